#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgc.h"

#define MAX_OBJS 32
#define TEXT_MAX (64 * 1024)

/* A desired state built by the tests. */
struct st {
	struct security_group g[MAX_OBJS];
	size_t ng;
	struct sg_rule r[MAX_OBJS];
	size_t nr;
	struct sgc_listen api;
};

static void st_free(struct st *s)
{
	for (size_t i = 0; i < s->ng; i++)
		free(s->g[i].targets);
	memset(s, 0, sizeof(*s));
}

/* Group id with comma-separated targets ("10.0.0.0/16,local"). */
static void G(struct st *s, const char *id, const char *targets)
{
	struct security_group *g = &s->g[s->ng++];
	char *copy = strdup(targets), *save = NULL;

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	g->targets = calloc(SG_TARGETS_MAX, sizeof(*g->targets));
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct sg_target *tg = &g->targets[g->ntargets++];

		snprintf(tg->text, sizeof(tg->text), "%s", t);
		if (!strcmp(t, "local"))
			tg->local = true;
		else if (cidr_parse_prefix(t, true, &tg->p))
			fail_msg("fixture target %s", t);
	}
	free(copy);
}

/* The API's listening socket. */
static void API(struct st *s, const char *addr, uint16_t port)
{
	if (cidr_parse_addr(addr, &s->api.addr))
		fail_msg("fixture address %s", addr);
	s->api.port = port;
}

/* A rule; ports 0,0 = all; peer is a CIDR or a group id ("sg-..."). */
static void R(struct st *s, const char *id, const char *group, enum sg_direction d,
              enum sg_protocol p, uint16_t from, uint16_t to, const char *peer)
{
	struct sg_rule *r = &s->r[s->nr++];

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->group_id, sizeof(r->group_id), "%s", group);
	r->direction = d;
	r->protocol = p;
	r->has_ports = from || to;
	r->port_from = from;
	r->port_to = to;
	if (!strncmp(peer, "sg-", 3)) {
		snprintf(r->remote_group_id, sizeof(r->remote_group_id), "%s", peer);
	} else {
		snprintf(r->cidr_text, sizeof(r->cidr_text), "%s", peer);
		if (cidr_parse_prefix(peer, true, &r->cidr))
			fail_msg("fixture cidr %s", peer);
	}
}

static struct sgc *compile(const struct st *s)
{
	struct sgc_input in = {.groups = s->g,
	                       .ngroups = s->ng,
	                       .rules = s->r,
	                       .nrules = s->nr,
	                       .api = s->api,
	                       .table_flags = SGC_TABLE_FLAGS};
	char why[128];
	struct sgc *c = NULL;

	assert_int_equal(sgc_compile(&in, &c, why, sizeof(why)), 0);
	assert_non_null(c);
	return c;
}

/* The dump as text; the caller frees it. */
static char *dump(const struct sgc *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	sgc_dump(c, f);
	fclose(f);
	return buf;
}

/*
 * The text of one chain or set block ("chain in_sg-a {" ... "\t}"), copied into out.
 * Not inlined: GCC 12 at -O3 then warns of a dangling pointer that is not there.
 */
__attribute__((noinline)) static const char *block(const char *text, const char *head, char *out,
                                                   size_t len)
{
	const char *p = strstr(text, head), *e;

	if (!p)
		return NULL;
	e = strstr(p, "\n\t}");
	snprintf(out, len, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
	return out;
}

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                      \
	} while (0)
#define assert_lacks(hay, needle)                                                                  \
	do {                                                                                       \
		if (strstr((hay), (needle)))                                                       \
			fail_msg("did not expect \"%s\" in:\n%s", (needle), (hay));                \
	} while (0)

/* ---- compile ---- */

static void test_no_groups_no_table(void **state)
{
	struct st s = {0};
	struct sgc *c;
	struct sgc_batch *b;
	char *t;

	(void)state;
	c = compile(&s);
	assert_true(sgc_empty(c));
	t = dump(c);
	assert_contains(t, "no table");
	free(t);
	/* Full: create-if-absent then delete, so an old table goes and none comes back. */
	assert_int_equal(sgc_batch_full(c, &b), 0);
	assert_true(sgc_batch_is_full(b));
	assert_int_equal(sgc_batch_nmsgs(b), 2);
	assert_int_equal(sgc_batch_msg_type(b, 1), NFT_MSG_NEWTABLE);
	assert_int_equal(sgc_batch_msg_type(b, 2), NFT_MSG_DELTABLE);
	sgc_batch_free(b);
	/* Nothing before, nothing now: no messages at all. */
	assert_int_equal(sgc_batch_update(c, c, &b), 0);
	assert_int_equal(sgc_batch_nmsgs(b), 0);
	sgc_batch_free(b);
	sgc_free(c);

	/* Groups without targets enforce nothing either. */
	G(&s, "sg-a", "");
	R(&s, "sgr-1", "sg-a", SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.0.0.0/8");
	c = compile(&s);
	assert_true(sgc_empty(c));
	sgc_free(c);
	st_free(&s);
}

static void test_union_and_disjoint_split(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	struct sgc *c;

	(void)state;
	G(&s, "sg-a", "10.0.0.0/16");
	G(&s, "sg-b", "10.0.1.0/24,10.0.1.7");
	R(&s, "sgr-1", "sg-a", SG_INGRESS, SG_PROTO_TCP, 22, 22, "192.168.150.0/24");
	R(&s, "sgr-2", "sg-b", SG_INGRESS, SG_PROTO_TCP, 443, 443, "0.0.0.0/0");
	c = compile(&s);
	t = dump(c);
	/* Overlapping targets become disjoint intervals, each mapped to its combination. */
	assert_non_null(block(t, "map in4 {", buf, sizeof(buf)));
	assert_contains(buf, "10.0.0.0-10.0.0.255 : jump cin_sg-a,");
	assert_contains(buf, "10.0.1.0-10.0.1.255 : jump cin_x");
	assert_contains(buf, "10.0.2.0-10.0.255.255 : jump cin_sg-a }");
	/* The host in both groups gets the union: both groups' rules, then the drop. */
	assert_non_null(block(t, "chain cin_x", buf, sizeof(buf)));
	assert_contains(buf, "ct state invalid drop\n\t\tjump in_sg-a\n\t\tjump in_sg-b\n");
	assert_contains(buf, "counter name \"drop_in_sg-a\" counter name \"drop_in_sg-b\" drop");
	/* Single-group hosts drop with their group's counter. */
	assert_non_null(block(t, "chain cin_sg-a {", buf, sizeof(buf)));
	assert_contains(buf, "jump in_sg-a\n\t\tcounter name \"drop_in_sg-a\" drop");
	assert_lacks(t, "cin_sg-b"); /* sg-b covers nothing alone */
	assert_contains(t, "counter drop_in_sg-b {");
	assert_contains(t, "ip daddr vmap @in4");
	free(t);
	sgc_free(c);
	st_free(&s);
}

static void test_remote_group_uses_set(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	struct sgc *c;

	(void)state;
	G(&s, "sg-web", "192.168.100.0/24");
	G(&s, "sg-app", "192.168.150.2,192.168.150.3,192.168.150.4,192.168.150.9,fd00::1");
	R(&s, "sgr-1", "sg-web", SG_INGRESS, SG_PROTO_TCP, 80, 80, "sg-app");
	R(&s, "sgr-2", "sg-web", SG_INGRESS, SG_PROTO_TCP, 443, 443, "sg-app");
	R(&s, "sgr-3", "sg-web", SG_INGRESS, SG_PROTO_ICMP, 0, 0, "sg-app");
	c = compile(&s);
	t = dump(c);
	assert_non_null(block(t, "chain in_sg-web {", buf, sizeof(buf)));
	assert_contains(buf, "ip saddr @m4_sg-app meta l4proto icmp accept");
	assert_contains(buf,
	                "ip saddr @m4_sg-app meta l4proto . th dport @inr_sg-web_sg-app accept");
	assert_contains(buf,
	                "ip6 saddr @m6_sg-app meta l4proto . th dport @inr_sg-web_sg-app accept");
	assert_lacks(buf, "ip6 saddr @m6_sg-app meta l4proto ipv6-icmp"); /* icmp is IPv4 only */
	/* Members once, ports once: never members x rules. */
	assert_non_null(block(t, "set m4_sg-app {", buf, sizeof(buf)));
	assert_contains(buf,
	                "elements = { 192.168.150.2-192.168.150.4,\n\t\t\t     192.168.150.9 }");
	assert_non_null(block(t, "set inr_sg-web_sg-app {", buf, sizeof(buf)));
	assert_contains(buf, "elements = { tcp . 80,\n\t\t\t     tcp . 443 }");
	assert_non_null(block(t, "set m6_sg-app {", buf, sizeof(buf)));
	assert_contains(buf, "elements = { fd00::1 }");
	free(t);
	sgc_free(c);
	st_free(&s);
}

static void test_egress_only_when_rules(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	struct sgc *c;

	(void)state;
	G(&s, "sg-a", "10.0.0.0/24");
	G(&s, "sg-b", "10.0.0.0/25");
	R(&s, "sgr-1", "sg-a", SG_INGRESS, SG_PROTO_ALL, 0, 0, "10.9.0.0/16");
	c = compile(&s);
	t = dump(c);
	assert_lacks(t, "forward_eg");
	assert_lacks(t, "map eg4");
	free(t);
	sgc_free(c);

	/* sg-b gets an egress rule: only where sg-b covers is egress restricted. */
	R(&s, "sgr-2", "sg-b", SG_EGRESS, SG_PROTO_UDP, 53, 53, "10.9.9.9");
	c = compile(&s);
	t = dump(c);
	assert_contains(t, "chain forward_eg {");
	assert_contains(t, "ip saddr vmap @eg4");
	assert_non_null(block(t, "map eg4 {", buf, sizeof(buf)));
	assert_contains(buf, "elements = { 10.0.0.0-10.0.0.127 : jump ceg_sg-b }");
	assert_non_null(block(t, "chain ceg_sg-b {", buf, sizeof(buf)));
	assert_contains(buf, "jump eg_sg-b\n\t\tcounter name \"drop_eg_sg-b\" drop");
	assert_non_null(block(t, "chain eg_sg-b {", buf, sizeof(buf)));
	assert_contains(buf, "ip daddr . meta l4proto . th dport @eg4p_sg-b accept");
	/* Egress allows accept only the egress base chain: ingress is a separate base chain. */
	assert_contains(t, "chain forward_in {");
	free(t);
	sgc_free(c);
	st_free(&s);
}

static void test_local_anti_lockout_first(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	struct sgc *c;
	const char *lo, *api, *jump, *nd, *est;

	(void)state;
	API(&s, "0.0.0.0", 8080);
	G(&s, "sg-host", "local");
	R(&s, "sgr-1", "sg-host", SG_INGRESS, SG_PROTO_TCP, 22, 22, "192.168.150.0/24");
	R(&s, "sgr-2", "sg-host", SG_EGRESS, SG_PROTO_ALL, 0, 0, "0.0.0.0/0");
	c = compile(&s);
	t = dump(c);
	assert_lacks(t, "chain forward_in"); /* local only: nothing on the forward path */
	assert_non_null(block(t, "chain input {", buf, sizeof(buf)));
	assert_contains(buf, "hook input");
	est = strstr(buf, "ct state established,related accept");
	nd = strstr(buf, "icmpv6 type @nd6 accept");
	lo = strstr(buf, "iif \"lo\" accept");
	api = strstr(buf, "tcp dport 8080 accept");
	jump = strstr(buf, "jump cin_sg-host");
	assert_true(est && nd && lo && api && jump);
	assert_true(est < nd && nd < jump && lo < jump && api < jump);
	assert_non_null(block(t, "chain output {", buf, sizeof(buf)));
	assert_contains(buf, "oif \"lo\" accept");
	/* The API's replies leave as established: a source-port match would let anything out. */
	assert_lacks(buf, "sport");
	assert_lacks(buf, "8080");
	assert_contains(buf, "jump ceg_sg-host");
	/* Neighbour discovery, router advertisements, MLD. */
	assert_non_null(block(t, "set nd6 {", buf, sizeof(buf)));
	assert_contains(buf, "133");
	assert_contains(buf, "134");
	assert_contains(buf, "135");
	assert_contains(buf, "136");
	free(t);
	sgc_free(c);
	st_free(&s);
}

/* Occurrences of needle in hay. */
static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (size_t i = 0; hay[i]; i++)
		n += !strncmp(hay + i, needle, len);
	return n;
}

/* The anti-lockout is the API's listening socket: its address and port, nothing more. */
static void test_api_socket_exactly(void **state)
{
	static const struct {
		const char *addr;
		uint16_t port;
		const char *rule; /* the one rule naming the port; NULL: none (loopback, no port) */
	} cases[] = {
	    {"192.168.100.2", 8080, "ip daddr 192.168.100.2 tcp dport 8080 accept"},
	    {"fd00:100::2", 8080, "ip6 daddr fd00:100::2 tcp dport 8080 accept"},
	    {"0.0.0.0", 8080, "meta nfproto ipv4 tcp dport 8080 accept"},
	    {"::", 8443, "meta nfproto ipv6 tcp dport 8443 accept"},
	    {"127.0.0.1", 8080, NULL},
	    {"127.0.0.53", 8080, NULL},
	    {"::1", 8080, NULL},
	    {"192.168.100.2", 0, NULL},
	};
	char buf[TEXT_MAX], port[16], *t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st s = {0};
		struct sgc *c;

		API(&s, cases[i].addr, cases[i].port);
		G(&s, "sg-host", "local");
		R(&s, "sgr-1", "sg-host", SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.0.0.0/8");
		R(&s, "sgr-2", "sg-host", SG_EGRESS, SG_PROTO_TCP, 80, 80, "0.0.0.0/0");
		c = compile(&s);
		t = dump(c);
		snprintf(port, sizeof(port), " %u ", cases[i].port ? cases[i].port : 8080);
		assert_non_null(block(t, "chain input {", buf, sizeof(buf)));
		assert_contains(buf, "iif \"lo\" accept");
		if (cases[i].rule) {
			assert_contains(buf, cases[i].rule);
			assert_true(strstr(buf, cases[i].rule) < strstr(buf, "jump cin_sg-host"));
			assert_int_equal(count(t, port), 1);
		} else {
			assert_int_equal(count(t, port), 0);
		}
		assert_lacks(t, "sport");
		free(t);
		sgc_free(c);
		st_free(&s);
	}
}

/*
 * Forward targets govern the router's own traffic too: output_in classifies
 * the destination of what this host sends, input_eg the source of what it
 * receives, through the same maps and group chains as the forward hook.
 */
static void test_router_own_traffic(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	const char *est, *nd, *lo, *v4, *v6;
	struct sgc *c;
	size_t sets, chains;

	(void)state;
	G(&s, "sg-web", "192.168.100.0/24,fd00:100::/64");
	R(&s, "sgr-1", "sg-web", SG_INGRESS, SG_PROTO_TCP, 80, 80, "192.168.150.0/24");
	c = compile(&s);
	t = dump(c);
	assert_non_null(block(t, "chain output_in {", buf, sizeof(buf)));
	assert_contains(buf, "type filter hook output priority filter; policy accept;");
	est = strstr(buf, "ct state established,related accept");
	nd = strstr(buf, "icmpv6 type @nd6 accept");
	lo = strstr(buf, "oif \"lo\" accept");
	v4 = strstr(buf, "ip daddr vmap @in4");
	v6 = strstr(buf, "ip6 daddr vmap @in6");
	assert_true(est && nd && lo && v4 && v6);
	assert_true(est < nd && nd < lo && lo < v4 && v4 < v6);
	assert_lacks(buf, "saddr"); /* on output the source is this host: never classified */
	assert_non_null(block(t, "chain forward_in {", buf, sizeof(buf)));
	assert_lacks(buf, "lo");
	assert_lacks(buf, "nd6");
	/* No egress rules: egress is free, on every hook. */
	assert_lacks(t, "input_eg");
	assert_lacks(t, "forward_eg");
	/* Local plumbing only where something local is guarded. */
	assert_lacks(t, "chain input {");
	assert_lacks(t, "chain output {");
	/* One map per family and direction, whatever the number of hooks classifying by it. */
	assert_int_equal(count(t, "\tmap "), 2);
	sgc_counts(c, &sets, &chains, NULL, NULL);
	assert_int_equal(sets, 4);   /* in4, in6, in4p_sg-web, nd6 */
	assert_int_equal(chains, 4); /* forward_in, output_in, cin_sg-web, in_sg-web */
	free(t);
	sgc_free(c);

	R(&s, "sgr-2", "sg-web", SG_EGRESS, SG_PROTO_UDP, 53, 53, "10.0.0.0/8");
	c = compile(&s);
	t = dump(c);
	assert_non_null(block(t, "chain input_eg {", buf, sizeof(buf)));
	assert_contains(buf, "type filter hook input priority filter; policy accept;");
	est = strstr(buf, "ct state established,related accept");
	nd = strstr(buf, "icmpv6 type @nd6 accept");
	lo = strstr(buf, "iif \"lo\" accept");
	v4 = strstr(buf, "ip saddr vmap @eg4");
	v6 = strstr(buf, "ip6 saddr vmap @eg6");
	assert_true(est && nd && lo && v4 && v6);
	assert_true(est < nd && nd < lo && lo < v4 && v4 < v6);
	assert_lacks(buf, "daddr"); /* on input the destination is this host */
	assert_non_null(block(t, "chain forward_eg {", buf, sizeof(buf)));
	assert_contains(buf, "ip saddr vmap @eg4");
	free(t);
	sgc_free(c);
	st_free(&s);

	/* IPv4 targets only: no IPv6 is classified, so no ICMPv6 plumbing either. */
	G(&s, "sg-web", "192.168.100.0/24");
	c = compile(&s);
	t = dump(c);
	assert_non_null(block(t, "chain output_in {", buf, sizeof(buf)));
	assert_string_equal(buf, "chain output_in {\n\t\ttype filter hook output priority "
	                         "filter; policy accept;\n\t\tct state established,related "
	                         "accept\n\t\toif \"lo\" accept\n\t\tip daddr vmap @in4");
	assert_lacks(t, "nd6");
	free(t);
	sgc_free(c);
	st_free(&s);
}

static void test_families_ports_icmp(void **state)
{
	struct st s = {0};
	char buf[TEXT_MAX], *t;
	struct sgc *c;

	(void)state;
	G(&s, "sg-a", "192.168.100.0/24,fd00:100::/64");
	R(&s, "sgr-1", "sg-a", SG_INGRESS, SG_PROTO_TCP, 20, 30, "10.0.0.0/8");
	R(&s, "sgr-2", "sg-a", SG_INGRESS, SG_PROTO_TCP, 25, 40, "10.0.0.0/8");
	R(&s, "sgr-3", "sg-a", SG_INGRESS, SG_PROTO_TCP, 41, 50, "10.0.0.0/8");    /* adjacent */
	R(&s, "sgr-4", "sg-a", SG_INGRESS, SG_PROTO_TCP, 100, 100, "10.1.0.0/16"); /* nested */
	R(&s, "sgr-5", "sg-a", SG_INGRESS, SG_PROTO_UDP, 0, 0, "10.2.0.0/16");     /* all ports */
	R(&s, "sgr-6", "sg-a", SG_INGRESS, SG_PROTO_TCP, 443, 443, "2001:db8::/32");
	R(&s, "sgr-7", "sg-a", SG_INGRESS, SG_PROTO_ICMP, 0, 0, "0.0.0.0/0");
	R(&s, "sgr-8", "sg-a", SG_INGRESS, SG_PROTO_ICMPV6, 0, 0, "::/0");
	R(&s, "sgr-9", "sg-a", SG_INGRESS, SG_PROTO_ICMP, 0, 0,
	  "2001:db8::/32"); /* never matches */
	c = compile(&s);
	t = dump(c);
	assert_non_null(block(t, "set in4p_sg-a {", buf, sizeof(buf)));
	assert_contains(buf, "type ipv4_addr . inet_proto . inet_service");
	/* 20-30, 25-40 and 41-50 merge; 10.1/16 gets 100 on top, as a split interval. */
	assert_contains(buf, "10.0.0.0-10.0.255.255 . tcp . 20-50");
	assert_contains(buf, "10.1.0.0-10.1.255.255 . tcp . 20-50");
	assert_contains(buf, "10.1.0.0-10.1.255.255 . tcp . 100");
	assert_contains(buf, "10.2.0.0-10.255.255.255 . tcp . 20-50");
	assert_contains(buf, "10.2.0.0-10.2.255.255 . udp . 0-65535");
	assert_non_null(block(t, "set in6p_sg-a {", buf, sizeof(buf)));
	assert_contains(buf, "type ipv6_addr . inet_proto . inet_service");
	assert_contains(buf, "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff . tcp . 443");
	assert_non_null(block(t, "chain in_sg-a {", buf, sizeof(buf)));
	assert_contains(buf, "meta l4proto icmp ip saddr @in4i_sg-a accept");
	assert_contains(buf, "meta l4proto ipv6-icmp ip6 saddr @in6i_sg-a accept");
	assert_non_null(block(t, "set in6i_sg-a {", buf, sizeof(buf)));
	assert_contains(buf, "elements = { ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff }");
	assert_contains(t, "ip daddr vmap @in4");
	assert_contains(t, "ip6 daddr vmap @in6");
	free(t);
	sgc_free(c);
	st_free(&s);
}

/* ---- batches, parsed back with libnftnl ---- */

struct parsed {
	struct nftnl_chain_list *chains;
	struct nftnl_rule_list *rules;
	struct nftnl_set_list *sets;
	struct nftnl_obj_list *objs;
	char *rule_text; /* every rule, as libnftnl prints it */
	size_t text_len;
};

static struct nftnl_set *find_parsed_set(struct parsed *p, const char *name)
{
	struct nftnl_set_list_iter *it = nftnl_set_list_iter_create(p->sets);
	struct nftnl_set *s;

	while ((s = nftnl_set_list_iter_next(it)))
		if (!strcmp(nftnl_set_get_str(s, NFTNL_SET_NAME), name))
			break;
	nftnl_set_list_iter_destroy(it);
	return s;
}

/*
 * libnftnl numbers the element nests it builds 1, 2, 3... (the kernel does
 * not look), but its parser wants NFTA_LIST_ELEM on each, as in dumps.
 */
static void list_elem_types(struct nlmsghdr *nlh)
{
	struct nlattr *a, *e;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(e, a) e->nla_type =
		    (uint16_t)((e->nla_type & ~NLA_TYPE_MASK) | NFTA_LIST_ELEM);
	}
}

/* What the kernel would hold after a full batch: every message parsed back. */
static void parse_batch(const struct sgc_batch *b, struct parsed *p)
{
	size_t len;
	const void *data = sgc_batch_data(b, &len);
	int left = (int)len;
	const struct nlmsghdr *nlh;
	FILE *f;

	memset(p, 0, sizeof(*p));
	p->chains = nftnl_chain_list_alloc();
	p->rules = nftnl_rule_list_alloc();
	p->sets = nftnl_set_list_alloc();
	p->objs = nftnl_obj_list_alloc();
	f = open_memstream(&p->rule_text, &p->text_len);
	for (nlh = data; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		int type = NFNL_MSG_TYPE(nlh->nlmsg_type);

		/* Every message asks for an ack: nft_send counts on it. */
		if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES)
			assert_true(nlh->nlmsg_flags & NLM_F_ACK);
		if (type == NFT_MSG_NEWCHAIN) {
			struct nftnl_chain *c = nftnl_chain_alloc();

			assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
			nftnl_chain_list_add_tail(c, p->chains);
		} else if (type == NFT_MSG_NEWRULE) {
			struct nftnl_rule *r = nftnl_rule_alloc();
			char buf[4096];

			assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
			nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
			fprintf(f, "%s\n", buf);
			nftnl_rule_list_add_tail(r, p->rules);
		} else if (type == NFT_MSG_NEWSET) {
			struct nftnl_set *s = nftnl_set_alloc();

			assert_int_equal(nftnl_set_nlmsg_parse(nlh, s), 0);
			nftnl_set_list_add_tail(s, p->sets);
		} else if (type == NFT_MSG_NEWSETELEM) {
			struct nftnl_set *tmp = nftnl_set_alloc(), *s;
			struct nlmsghdr *copy = malloc(nlh->nlmsg_len);

			memcpy(copy, nlh, nlh->nlmsg_len);
			list_elem_types(copy);
			assert_int_equal(nftnl_set_elems_nlmsg_parse(copy, tmp), 0);
			s = find_parsed_set(p, nftnl_set_get_str(tmp, NFTNL_SET_NAME));
			assert_non_null(s);
			nftnl_set_free(tmp);
			assert_int_equal(nftnl_set_elems_nlmsg_parse(copy, s), 0);
			free(copy);
		} else if (type == NFT_MSG_NEWOBJ) {
			struct nftnl_obj *o = nftnl_obj_alloc();

			assert_int_equal(nftnl_obj_nlmsg_parse(nlh, o), 0);
			nftnl_obj_list_add_tail(o, p->objs);
		}
	}
	assert_int_equal(left, 0);
	fclose(f);
}

static void parsed_free(struct parsed *p)
{
	nftnl_chain_list_free(p->chains);
	nftnl_rule_list_free(p->rules);
	nftnl_set_list_free(p->sets);
	nftnl_obj_list_free(p->objs);
	free(p->rule_text);
}

static void sample(struct st *s)
{
	memset(s, 0, sizeof(*s));
	API(s, "192.168.150.3", 8080);
	G(s, "sg-web", "192.168.100.2,fd00:100::2");
	G(s, "sg-app", "192.168.150.0/24,local");
	R(s, "sgr-1", "sg-web", SG_INGRESS, SG_PROTO_TCP, 80, 80, "192.168.150.0/24");
	R(s, "sgr-2", "sg-web", SG_INGRESS, SG_PROTO_TCP, 8080, 8090, "sg-app");
	R(s, "sgr-3", "sg-web", SG_INGRESS, SG_PROTO_ICMPV6, 0, 0, "fd00::/8");
	R(s, "sgr-4", "sg-app", SG_EGRESS, SG_PROTO_UDP, 53, 53, "9.9.9.9");
	R(s, "sgr-5", "sg-app", SG_INGRESS, SG_PROTO_ALL, 0, 0, "sg-web");
}

static void test_full_batch_parses_back(void **state)
{
	struct st s;
	struct sgc *c;
	struct sgc_batch *b;
	struct parsed p;
	char why[256];

	(void)state;
	sample(&s);
	c = compile(&s);
	assert_int_equal(sgc_batch_full(c, &b), 0);
	assert_true(sgc_batch_is_full(b));
	/* Replace in one transaction: never a moment without the table. */
	assert_int_equal(sgc_batch_msg_type(b, 1), NFT_MSG_NEWTABLE);
	assert_int_equal(sgc_batch_msg_type(b, 2), NFT_MSG_DELTABLE);
	assert_int_equal(sgc_batch_msg_type(b, 3), NFT_MSG_NEWTABLE);
	assert_string_equal(sgc_batch_msg_what(b, 2), "delete table inet vrouter");
	parse_batch(b, &p);
	/* The expressions libnftnl sees. */
	assert_contains(p.rule_text, "[ lookup reg 1 set in4 dreg 0 0x0 ]");
	assert_contains(p.rule_text, "[ lookup reg 1 set in4p_sg-web 0x0 ]");
	assert_contains(p.rule_text, "[ meta load l4proto => reg 9 ]");
	assert_contains(p.rule_text, "[ payload load 2b @ transport header + 2 => reg 10 ]");
	assert_contains(p.rule_text, "[ lookup reg 1 set m4_sg-app 0x0 ]");
	assert_contains(p.rule_text, "[ objref type 1 name drop_in_sg-web ]");
	assert_contains(p.rule_text, "[ immediate reg 0 jump -> in_sg-web ]");
	assert_contains(p.rule_text, "[ ct load state => reg 1 ]");
	/* The API rule: 192.168.150.3 and port 8080 compared; no source port loaded anywhere. */
	assert_contains(p.rule_text, "[ payload load 4b @ network header + 16 => reg 1 ]");
	assert_contains(p.rule_text, "[ cmp eq reg 1 0x0396a8c0 ]");
	assert_contains(p.rule_text, "[ payload load 2b @ transport header + 2 => reg 1 ]");
	assert_contains(p.rule_text, "[ cmp eq reg 1 0x0000901f ]");
	assert_lacks(p.rule_text, "load 2b @ transport header + 0 ");
	/* What the full batch creates is exactly what the compiler meant. */
	assert_int_equal(sgc_check(c, p.chains, p.rules, p.sets, p.objs, why, sizeof(why)), 0);
	parsed_free(&p);
	sgc_batch_free(b);
	sgc_free(c);
	st_free(&s);
}

/* A host guarded both ways: every check is a base chain of its own, none skips another. */
static void test_separate_base_chains(void **state)
{
	static const char *const base[][2] = {
	    {"input", "input"},      {"input_eg", "input"},     {"output", "output"},
	    {"output_in", "output"}, {"forward_in", "forward"}, {"forward_eg", "forward"},
	};
	struct st s;
	char head[64], hook[96], buf[TEXT_MAX], *t;
	struct sgc *c;

	(void)state;
	sample(&s);
	c = compile(&s);
	t = dump(c);
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		snprintf(head, sizeof(head), "chain %s {", base[i][0]);
		snprintf(hook, sizeof(hook), "type filter hook %s priority", base[i][1]);
		assert_non_null(block(t, head, buf, sizeof(buf)));
		assert_contains(buf, hook);
	}
	/* The local guard and the covered hosts' guard on the same hook: no jump between. */
	assert_non_null(block(t, "chain input {", buf, sizeof(buf)));
	assert_lacks(buf, "vmap");
	assert_contains(buf, "ip daddr 192.168.150.3 tcp dport 8080 accept");
	assert_non_null(block(t, "chain input_eg {", buf, sizeof(buf)));
	assert_lacks(buf, "jump");
	assert_lacks(buf, "8080"); /* the anti-lockout is for `local` guards only */
	assert_non_null(block(t, "chain output_in {", buf, sizeof(buf)));
	assert_lacks(buf, "jump");
	assert_lacks(buf, "8080");
	free(t);
	sgc_free(c);
	st_free(&s);
}

static void test_check_finds_differences(void **state)
{
	struct st s;
	struct sgc *c, *c2;
	struct sgc_batch *b;
	struct parsed p;
	char why[256];

	(void)state;
	sample(&s);
	c = compile(&s);
	assert_int_equal(sgc_batch_full(c, &b), 0);
	parse_batch(b, &p);
	/* One more rule desired than present. */
	R(&s, "sgr-6", "sg-web", SG_INGRESS, SG_PROTO_UDP, 5000, 5000, "10.0.0.0/8");
	c2 = compile(&s);
	assert_int_equal(sgc_check(c2, p.chains, p.rules, p.sets, p.objs, why, sizeof(why)), 1);
	assert_true(why[0] != '\0');
	sgc_free(c2);
	/* A rule gone from the kernel. */
	{
		struct nftnl_rule_list_iter *it = nftnl_rule_list_iter_create(p.rules);
		struct nftnl_rule *r = nftnl_rule_list_iter_next(it);

		nftnl_rule_list_del(r);
		nftnl_rule_free(r);
		nftnl_rule_list_iter_destroy(it);
	}
	assert_int_equal(sgc_check(c, p.chains, p.rules, p.sets, p.objs, why, sizeof(why)), 1);
	assert_contains(why, "rule");
	parsed_free(&p);
	sgc_batch_free(b);
	sgc_free(c);
	st_free(&s);
}

static void test_incremental_elements_only(void **state)
{
	struct st s;
	struct sgc *a, *b2;
	struct sgc_batch *b;

	(void)state;
	sample(&s);
	a = compile(&s);
	/* Another CIDR rule of a shape the group already has: set elements only. */
	R(&s, "sgr-6", "sg-web", SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.0.0.0/8");
	b2 = compile(&s);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_false(sgc_batch_is_full(b));
	assert_int_equal(sgc_batch_nmsgs(b), 1);
	assert_true(sgc_batch_elements_only(b));
	assert_int_equal(sgc_batch_msg_type(b, 1), NFT_MSG_NEWSETELEM);
	assert_string_equal(sgc_batch_msg_origin(b, 1), "sg-web");
	sgc_batch_free(b);
	/* And back: removing it deletes the element. */
	assert_int_equal(sgc_batch_update(b2, a, &b), 0);
	assert_int_equal(sgc_batch_nmsgs(b), 1);
	assert_int_equal(sgc_batch_msg_type(b, 1), NFT_MSG_DELSETELEM);
	sgc_batch_free(b);
	/* No change: nothing to send. */
	assert_int_equal(sgc_batch_update(a, a, &b), 0);
	assert_int_equal(sgc_batch_nmsgs(b), 0);
	assert_true(sgc_equal(a, a));
	assert_false(sgc_equal(a, b2));
	sgc_batch_free(b);
	sgc_free(b2);

	/* A rule of a new shape: one new set and one chain replaced, not the table. */
	R(&s, "sgr-7", "sg-web", SG_INGRESS, SG_PROTO_ALL, 0, 0, "10.7.0.0/16");
	b2 = compile(&s);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_false(sgc_batch_is_full(b));
	for (size_t i = 1; i <= sgc_batch_nmsgs(b); i++) {
		int t = sgc_batch_msg_type(b, i);

		assert_true(t != NFT_MSG_NEWTABLE && t != NFT_MSG_DELTABLE &&
		            t != NFT_MSG_DELCHAIN);
		if (t == NFT_MSG_DELRULE) /* the flush */
			assert_string_equal(sgc_batch_msg_what(b, i), "flush chain in_sg-web");
	}
	sgc_batch_free(b);
	sgc_free(b2);

	/* Everything gone: the table is deleted. */
	st_free(&s);
	b2 = compile(&s);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_true(sgc_batch_is_full(b));
	assert_int_equal(sgc_batch_nmsgs(b), 2);
	assert_int_equal(sgc_batch_msg_type(b, 2), NFT_MSG_DELTABLE);
	sgc_batch_free(b);
	sgc_free(b2);
	sgc_free(a);
}

/* Elements of several protocols and addresses: one more rule is still one element. */
static void test_incremental_minimal_in_mixed_set(void **state)
{
	struct st s = {0};
	struct sgc *a, *b2;
	struct sgc_batch *b;

	(void)state;
	G(&s, "sg-a", "10.0.0.0/24");
	for (int i = 0; i < 20; i++) {
		char id[16], cidr[32];

		snprintf(id, sizeof(id), "sgr-%d", i);
		snprintf(cidr, sizeof(cidr), "172.16.%d.0/24", i);
		R(&s, id, "sg-a", SG_INGRESS, i % 2 ? SG_PROTO_UDP : SG_PROTO_TCP,
		  (uint16_t)(100 + i), (uint16_t)(100 + i), cidr);
	}
	a = compile(&s);
	R(&s, "sgr-x", "sg-a", SG_INGRESS, SG_PROTO_TCP, 8443, 8443, "192.168.7.0/24");
	b2 = compile(&s);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_int_equal(sgc_batch_nmsgs(b), 1);
	assert_string_equal(sgc_batch_msg_what(b, 1), "add 1 element(s) to set in4p_sg-a");
	sgc_batch_free(b);
	sgc_free(b2);
	sgc_free(a);
	st_free(&s);
}

static void test_target_change_is_incremental(void **state)
{
	struct st s;
	struct sgc *a, *b2;
	struct sgc_batch *b;
	struct parsed p;
	char why[256];

	(void)state;
	sample(&s);
	a = compile(&s);
	/* A new host in sg-web: map and member-set elements, no chain touched. */
	snprintf(s.g[0].targets[s.g[0].ntargets].text, CIDR_STR_MAX, "192.168.100.3");
	assert_int_equal(
	    cidr_parse_prefix("192.168.100.3", true, &s.g[0].targets[s.g[0].ntargets].p), 0);
	s.g[0].ntargets++;
	b2 = compile(&s);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_true(sgc_batch_elements_only(b));
	sgc_batch_free(b);
	/* The full build of the new state is consistent with itself. */
	assert_int_equal(sgc_batch_full(b2, &b), 0);
	parse_batch(b, &p);
	assert_int_equal(sgc_check(b2, p.chains, p.rules, p.sets, p.objs, why, sizeof(why)), 0);
	parsed_free(&p);
	sgc_batch_free(b);
	sgc_free(b2);
	sgc_free(a);
	st_free(&s);
}

static void test_flags_change_is_full(void **state)
{
	struct st s;
	struct sgc *a, *b2;
	struct sgc_batch *b;
	struct sgc_input in;
	char why[128];

	(void)state;
	sample(&s);
	a = compile(&s);
	in = (struct sgc_input){.groups = s.g,
	                        .ngroups = s.ng,
	                        .rules = s.r,
	                        .nrules = s.nr,
	                        .api = s.api,
	                        .table_flags = 0};
	assert_int_equal(sgc_compile(&in, &b2, why, sizeof(why)), 0);
	assert_int_equal(sgc_batch_update(a, b2, &b), 0);
	assert_true(sgc_batch_is_full(b));
	sgc_batch_free(b);
	/* Unknown previous state: full as well. */
	assert_int_equal(sgc_batch_update(NULL, a, &b), 0);
	assert_true(sgc_batch_is_full(b));
	sgc_batch_free(b);
	sgc_free(b2);
	sgc_free(a);
	st_free(&s);
}

static void test_many_rules_one_lookup(void **state)
{
	struct st s = {0};
	struct sgc *c;
	size_t sets, chains, ctrs, elems;
	char buf[TEXT_MAX], *t;

	(void)state;
	G(&s, "sg-a", "10.0.0.0/8");
	for (int i = 0; i < MAX_OBJS - 1; i++) {
		char id[16], cidr[32];

		snprintf(id, sizeof(id), "sgr-%d", i);
		snprintf(cidr, sizeof(cidr), "172.16.%d.0/24", i);
		R(&s, id, "sg-a", SG_INGRESS, SG_PROTO_TCP, (uint16_t)(1000 + i),
		  (uint16_t)(1000 + i), cidr);
	}
	c = compile(&s);
	sgc_counts(c, &sets, &chains, &ctrs, &elems);
	t = dump(c);
	/* 31 rules, one set lookup in one chain. */
	assert_non_null(block(t, "chain in_sg-a {", buf, sizeof(buf)));
	assert_string_equal(buf, "chain in_sg-a {\n\t\tip saddr . meta l4proto . th dport "
	                         "@in4p_sg-a accept");
	assert_int_equal(elems, 1 + (MAX_OBJS - 1)); /* the map's interval + the 31 elements */
	free(t);
	sgc_free(c);
	st_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_groups_no_table),
	    cmocka_unit_test(test_union_and_disjoint_split),
	    cmocka_unit_test(test_remote_group_uses_set),
	    cmocka_unit_test(test_egress_only_when_rules),
	    cmocka_unit_test(test_local_anti_lockout_first),
	    cmocka_unit_test(test_api_socket_exactly),
	    cmocka_unit_test(test_router_own_traffic),
	    cmocka_unit_test(test_families_ports_icmp),
	    cmocka_unit_test(test_full_batch_parses_back),
	    cmocka_unit_test(test_separate_base_chains),
	    cmocka_unit_test(test_check_finds_differences),
	    cmocka_unit_test(test_incremental_elements_only),
	    cmocka_unit_test(test_incremental_minimal_in_mixed_set),
	    cmocka_unit_test(test_target_change_is_incremental),
	    cmocka_unit_test(test_flags_change_is_full),
	    cmocka_unit_test(test_many_rules_one_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
