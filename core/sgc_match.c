/*
 * The security-group compiler's semantics asked of one flow (sgc.h,
 * "Diagnostics"): the same predicates sgc_compile builds its sets and maps
 * with (sgc_rule_ports, sgc_icmp_fits, sgc_target_of), evaluated on the
 * groups and rules instead of compiled, so the answer names the rule.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "sgc_int.h"

bool sgc_covers(const struct security_group *g, const struct ipaddr *a, bool is_local)
{
	for (size_t t = 0; t < g->ntargets; t++) {
		const struct sg_target *tg = &g->targets[t];

		if (is_local ? tg->local : sgc_target_of(tg, a->family) && cidr_contains(&tg->p, a))
			return true;
	}
	return false;
}

/* A remote group's members, as its member sets hold them: its address targets. */
static bool member_of(const struct security_group *groups, size_t ng, const char *gid,
                      const struct ipaddr *a)
{
	for (size_t i = 0; i < ng; i++) {
		if (strcmp(groups[i].id, gid))
			continue;
		for (size_t t = 0; t < groups[i].ntargets; t++)
			if (sgc_target_of(&groups[i].targets[t], a->family) &&
			    cidr_contains(&groups[i].targets[t].p, a))
				return true;
	}
	return false;
}

bool sgc_rule_allows(const struct sg_rule *r, const struct security_group *groups, size_t ng,
                     const struct sgc_flow *f)
{
	const struct ipaddr *peer = r->direction == SG_INGRESS ? &f->src : &f->dst;
	struct prange pr;

	if (r->remote_group_id[0]) {
		if (!member_of(groups, ng, r->remote_group_id, peer))
			return false;
	} else if (!cidr_contains(&r->cidr, peer)) {
		return false;
	}
	switch (r->protocol) {
	case SG_PROTO_ALL: return true;
	case SG_PROTO_ICMP:
	case SG_PROTO_ICMPV6:
		return r->protocol == f->proto && sgc_icmp_fits(r->protocol, peer->family);
	case SG_PROTO_TCP:
	case SG_PROTO_UDP:
		if (r->protocol != f->proto)
			return false;
		pr = sgc_rule_ports(r);
		return f->dport >= pr.lo && f->dport <= pr.hi;
	}
	return false;
}

void sgc_drop_counter_name(const char *gid, enum sg_direction d, char *out)
{
	sgc_name(out, "drop_%s_%s", d == SG_INGRESS ? "in" : "eg", gid);
}
