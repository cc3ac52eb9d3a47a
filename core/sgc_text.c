/* The compiled ruleset as nft-like text: sgc_dump, for logs, diagnostics and tests. */
#include "sgc_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "ipv6-icmp";
	}
	return "?";
}

static void print_range_addr(FILE *f, int family, const uint8_t *lo, const uint8_t *hi)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	inet_ntop(family, lo, a, sizeof(a));
	inet_ntop(family, hi, b, sizeof(b));
	if (!strcmp(a, b))
		fprintf(f, "%s", a);
	else
		fprintf(f, "%s-%s", a, b);
}

static void print_range_port(FILE *f, const uint8_t *lo, const uint8_t *hi)
{
	unsigned a = (unsigned)lo[0] << 8 | lo[1], b = (unsigned)hi[0] << 8 | hi[1];

	if (a == b)
		fprintf(f, "%u", a);
	else
		fprintf(f, "%u-%u", a, b);
}

static void print_elem(FILE *f, const struct ir_set *s, const struct ir_elem *e)
{
	size_t alen = cidr_addr_len(s->family);

	switch (s->shape) {
	case SHAPE_ADDR: print_range_addr(f, s->family, e->lo, e->hi); break;
	case SHAPE_ADDR_PROTO_PORT:
		print_range_addr(f, s->family, e->lo, e->hi);
		fprintf(f, " . %s . ", proto_name(e->lo[alen]));
		print_range_port(f, e->lo + alen + 4, e->hi + alen + 4);
		break;
	case SHAPE_PROTO_PORT:
		fprintf(f, "%s . ", proto_name(e->lo[0]));
		print_range_port(f, e->lo + 4, e->hi + 4);
		break;
	case SHAPE_ICMP6_TYPE: fprintf(f, "%u", e->lo[0]); break;
	}
	if (e->chain)
		fprintf(f, " : jump %s", e->chain);
}

static const char *set_type_text(const struct ir_set *s)
{
	bool v6 = s->family == AF_INET6;

	switch (s->shape) {
	case SHAPE_ADDR: return v6 ? "ipv6_addr" : "ipv4_addr";
	case SHAPE_ADDR_PROTO_PORT:
		return v6 ? "ipv6_addr . inet_proto . inet_service"
		          : "ipv4_addr . inet_proto . inet_service";
	case SHAPE_PROTO_PORT: return "inet_proto . inet_service";
	case SHAPE_ICMP6_TYPE: return "icmpv6_type";
	}
	return "?";
}

static void print_rule(FILE *f, const struct ir_rule *r)
{
	const char *ip = r->family == AF_INET6 ? "ip6" : "ip";
	const char *fld = r->daddr ? "daddr" : "saddr";
	const char *icmp = r->family == AF_INET6 ? "ipv6-icmp" : "icmp";

	switch (r->kind) {
	case RK_CT_ESTREL: fprintf(f, "ct state established,related accept"); break;
	case RK_CT_INVALID: fprintf(f, "ct state invalid drop"); break;
	case RK_ND: fprintf(f, "icmpv6 type @%s accept", r->a); break;
	case RK_IIF_LO: fprintf(f, "iif \"lo\" accept"); break;
	case RK_OIF_LO: fprintf(f, "oif \"lo\" accept"); break;
	case RK_API:
		if (r->has_addr) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(r->family, r->addr, a, sizeof(a));
			fprintf(f, "%s daddr %s ", ip, a);
		} else {
			fprintf(f, "meta nfproto %s ", r->family == AF_INET6 ? "ipv6" : "ipv4");
		}
		fprintf(f, "tcp dport %u accept", r->port);
		break;
	case RK_VMAP: fprintf(f, "%s %s vmap @%s", ip, fld, r->a); break;
	case RK_JUMP: fprintf(f, "jump %s", r->a); break;
	case RK_CIDR_PORTS:
		fprintf(f, "%s %s . meta l4proto . th dport @%s accept", ip, fld, r->a);
		break;
	case RK_CIDR_ICMP:
		fprintf(f, "meta l4proto %s %s %s @%s accept", icmp, ip, fld, r->a);
		break;
	case RK_CIDR_ALL:
	case RK_REMOTE_ALL: fprintf(f, "%s %s @%s accept", ip, fld, r->a); break;
	case RK_REMOTE_ICMP:
		fprintf(f, "%s %s @%s meta l4proto %s accept", ip, fld, r->a, icmp);
		break;
	case RK_REMOTE_PORTS:
		fprintf(f, "%s %s @%s meta l4proto . th dport @%s accept", ip, fld, r->a, r->b);
		break;
	case RK_DROP: {
		const char *p = r->counters;
		char name[SGC_NAME_MAX];

		while (sgc_next_name(&p, name))
			fprintf(f, "counter name \"%s\" ", name);
		fprintf(f, "drop");
		break;
	}
	}
}

void sgc_dump(const struct sgc *c, FILE *f)
{
	if (c->empty) {
		fprintf(f, "# no table inet %s: nothing to enforce\n", SGC_TABLE);
		return;
	}
	fprintf(f, "table inet %s {\n\t# flags 0x%x\n", SGC_TABLE, c->table_flags);
	for (size_t i = 0; i < c->nctrs; i++)
		fprintf(f, "\tcounter %s {\n\t}\n", c->ctrs[i].name);
	for (size_t i = 0; i < c->nsets; i++) {
		const struct ir_set *s = &c->sets[i];

		fprintf(f, "\t%s %s {\n\t\ttype %s%s\n", s->map ? "map" : "set", s->name,
		        set_type_text(s), s->map ? " : verdict" : "");
		if (sgc_shape_interval(s->shape))
			fprintf(f, "\t\tflags interval\n");
		if (s->nel) {
			fprintf(f, "\t\telements = { ");
			for (size_t k = 0; k < s->nel; k++) {
				if (k)
					fprintf(f, ",\n\t\t\t     ");
				print_elem(f, s, &s->el[k]);
			}
			fprintf(f, " }\n");
		}
		fprintf(f, "\t}\n");
	}
	for (size_t i = 0; i < c->nchains; i++) {
		const struct ir_chain *ch = &c->chains[i];

		fprintf(f, "\tchain %s {\n", ch->name);
		if (ch->base)
			fprintf(f, "\t\ttype filter hook %s priority filter; policy accept;\n",
			        sgc_hook_name(ch->hook));
		for (size_t k = 0; k < ch->nr; k++) {
			fprintf(f, "\t\t");
			print_rule(f, &ch->r[k]);
			fprintf(f, "\n");
		}
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
}
