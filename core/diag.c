/*
 * Reachability diagnostics (diag.h). The checks run in path order: where the
 * two ends sit, forwarding, the route lookup, the source's egress and the
 * destination's ingress security groups, the return path, and what
 * connection tracking saw. Desired routes reach the comparison only through
 * plan_kroute_of, the translation the reconciler and the dry run use;
 * security groups only through sgc_covers/sgc_rule_allows, the compiler's
 * own predicates.
 */
#include "diag.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "plan.h"
#include "sgc.h"

#define DIAG_FLOWS_SHOWN 3 /* conntrack entries quoted as evidence */

enum at { AT_NOWHERE, AT_LOCAL, AT_CONNECTED, AT_NEXTHOP };

/* Where one end of the flow sits, seen from this host. */
struct where {
	enum at at;
	int ifindex;
	struct prefix net; /* AT_CONNECTED: the connected network */
	struct ipaddr via; /* AT_NEXTHOP */
};

struct dctx {
	const struct kernel_ops *k;
	const struct diag_state *st;
	const struct diag_request *q;
	struct diag_result *out;
	struct klink *links;
	size_t nlinks;
	struct kaddr *conn;
	size_t nconn;
	struct kroute *observed; /* owned routes in the kernel */
	size_t nobserved;
	struct kcounter *ctr0; /* drop counters at the start */
	size_t nctr0;
	bool have_ctr0;
	/* The groups guarding the two ends, for their drop counters before and after. */
	struct {
		const char *gid;
		enum sg_direction dir;
	} guards[DIAG_IDS_MAX * 2];
	size_t nguards;
	struct where src, dst;
	bool forwarded; /* neither end is this host */
	bool fwd_on;    /* the family's forwarding, when forwarded */
};

static const char *const code_names[] = {
    [DIAG_OK] = "",
    [DIAG_FORWARDING_DISABLED] = "FORWARDING_DISABLED",
    [DIAG_NO_ROUTE] = "NO_ROUTE",
    [DIAG_BLACKHOLE_ROUTE] = "BLACKHOLE_ROUTE",
    [DIAG_UNREACHABLE_ROUTE] = "UNREACHABLE_ROUTE",
    [DIAG_PROHIBIT_ROUTE] = "PROHIBIT_ROUTE",
    [DIAG_ROUTE_NOT_APPLIED] = "ROUTE_NOT_APPLIED",
    [DIAG_SG_EGRESS_NO_MATCH] = "SG_EGRESS_NO_MATCH",
    [DIAG_SG_INGRESS_NO_MATCH] = "SG_INGRESS_NO_MATCH",
    [DIAG_NO_RETURN_ROUTE] = "NO_RETURN_ROUTE",
    [DIAG_NO_REPLY_OBSERVED] = "NO_REPLY_OBSERVED",
};

const char *diag_code_name(enum diag_code c)
{
	return c <= DIAG_NO_REPLY_OBSERVED ? code_names[c] : "";
}

const char *diag_verdict_name(enum diag_verdict v)
{
	switch (v) {
	case DIAG_PASS: return "pass";
	case DIAG_FAIL: return "fail";
	case DIAG_SKIP: return "skip";
	case DIAG_UNKNOWN: break;
	}
	return "unknown";
}

/* ---- the request ---- */

static int parse_end(const char *field, const char *text, struct ipaddr *out, struct vr_err *e)
{
	if (!text[0])
		return err_set(e, VR_ERR_INVALID, field, "%s is required", field);
	if (cidr_parse_addr(text, out))
		return err_set(
		    e, VR_ERR_INVALID, field,
		    "%s \"%s\" is not an IPv4 or IPv6 address (one host, no prefix length)", field,
		    text);
	return 0;
}

int diag_request_validate(struct diag_request *r, struct vr_err *e)
{
	int p;

	if (parse_end("source", r->source, &r->src, e) ||
	    parse_end("destination", r->destination, &r->dst, e))
		return -1;
	if (r->src.family != r->dst.family)
		return err_set(e, VR_ERR_INVALID, "destination",
		               "destination %s and source %s are of different families",
		               r->destination, r->source);
	if (!r->protocol[0])
		return err_set(e, VR_ERR_INVALID, "protocol",
		               "protocol is required (tcp, udp, icmp or icmpv6)");
	p = model_sg_protocol_parse(r->protocol);
	if (p < 0 || p == SG_PROTO_ALL)
		return err_set(e, VR_ERR_INVALID, "protocol",
		               "protocol \"%s\" is not one of tcp, udp, icmp, icmpv6", r->protocol);
	r->proto = (enum sg_protocol)p;
	if ((r->proto == SG_PROTO_ICMP && r->src.family != AF_INET) ||
	    (r->proto == SG_PROTO_ICMPV6 && r->src.family != AF_INET6))
		return err_set(e, VR_ERR_INVALID, "protocol",
		               "protocol %s does not carry IPv%c (%s)", r->protocol,
		               r->src.family == AF_INET ? '4' : '6', r->source);
	r->port = 0;
	if (r->proto == SG_PROTO_ICMP || r->proto == SG_PROTO_ICMPV6) {
		if (r->has_port)
			return err_set(e, VR_ERR_INVALID, "port",
			               "port %" PRId64
			               " given with protocol %s, which has no ports",
			               r->port_in, r->protocol);
		return 0;
	}
	if (!r->has_port)
		return err_set(e, VR_ERR_INVALID, "port", "port is required with protocol %s",
		               r->protocol);
	if (r->port_in < 1 || r->port_in > SG_PORT_MAX)
		return err_set(e, VR_ERR_INVALID, "port", "port %" PRId64 " is out of range 1..%d",
		               r->port_in, SG_PORT_MAX);
	r->port = (uint16_t)r->port_in;
	return 0;
}

/* ---- small helpers ---- */

static struct diag_hop *hop_new(struct dctx *d, const char *check)
{
	struct diag_hop *h = &d->out->hops[d->out->nhops++];

	h->check = check;
	h->verdict = DIAG_PASS;
	return h;
}

static void hop_id(struct diag_hop *h, const char *id)
{
	if (id && id[0] && h->nids < DIAG_IDS_MAX)
		snprintf(h->ids[h->nids++], ID_MAX, "%s", id);
}

static void __attribute__((format(printf, 3, 4))) say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/*
 * h fails with code; the first failure on the path is what blocks (its
 * object and sentence), and it brings the suggestion the caller then fills.
 * Returns the suggestion to fill, or NULL when an earlier check blocks.
 */
static struct diag_suggestion *fail(struct dctx *d, struct diag_hop *h, enum diag_code code,
                                    const char *object_id)
{
	struct diag_result *o = d->out;

	h->verdict = DIAG_FAIL;
	if (o->code != DIAG_OK)
		return NULL;
	o->code = code;
	snprintf(o->object_id, sizeof(o->object_id), "%s", object_id ? object_id : "");
	snprintf(o->message, sizeof(o->message), "%s", h->detail);
	o->fix.complete = true;
	return &o->fix;
}

static void fix_call(struct diag_suggestion *s, const char *method, const char *path)
{
	s->present = true;
	s->method = method;
	snprintf(s->path, sizeof(s->path), "%s", path);
}

static void fix_str(struct diag_suggestion *s, const char *key, const char *v)
{
	struct diag_field *f = &s->body[s->nbody++];

	f->key = key;
	f->type = DIAG_STR;
	snprintf(f->s, sizeof(f->s), "%s", v);
}

static void fix_int(struct diag_suggestion *s, const char *key, int64_t v)
{
	struct diag_field *f = &s->body[s->nbody++];

	f->key = key;
	f->type = DIAG_INT;
	f->i = v;
}

static void fix_bool(struct diag_suggestion *s, const char *key, bool v)
{
	struct diag_field *f = &s->body[s->nbody++];

	f->key = key;
	f->type = DIAG_BOOL;
	f->b = v;
}

static const char *link_name(const struct dctx *d, int ifindex)
{
	for (size_t i = 0; i < d->nlinks; i++)
		if (d->links[i].ifindex == ifindex)
			return d->links[i].name;
	return "?";
}

static void host_prefix(const struct ipaddr *a, char *buf, size_t len)
{
	struct prefix p = {.addr = *a, .len = (uint8_t)cidr_max_len(a->family)};

	cidr_format_prefix(&p, buf, len);
}

static const char *rtn_word(uint8_t type)
{
	switch (type) {
	case RTN_UNICAST: return "unicast";
	case RTN_LOCAL: return "local";
	case RTN_BLACKHOLE: return "blackhole";
	case RTN_UNREACHABLE: return "unreachable";
	case RTN_PROHIBIT: return "prohibit";
	case RTN_BROADCAST: return "broadcast";
	}
	return "other";
}

static bool is_reject(uint8_t type)
{
	return type == RTN_BLACKHOLE || type == RTN_UNREACHABLE || type == RTN_PROHIBIT;
}

/* The matched route as "ip route get fibmatch" prints it. */
static void answer_words(const struct dctx *d, const struct kroute_answer *a, char *buf, size_t len)
{
	char dst[CIDR_STR_MAX], via[CIDR_STR_MAX + 8] = "", dev[IFNAME_MAX + 8] = "", proto[24];

	if (a->dst.len == 0)
		snprintf(dst, sizeof(dst), "default");
	else
		cidr_format_prefix(&a->dst, dst, sizeof(dst));
	if (a->via.family) {
		char v[CIDR_STR_MAX];

		cidr_format_addr(&a->via, v, sizeof(v));
		snprintf(via, sizeof(via), " via %s", v);
	}
	if (a->oif && !is_reject(a->type))
		snprintf(dev, sizeof(dev), " dev %s", link_name(d, a->oif));
	/* As /etc/iproute2/rt_protos and deploy/rt_protos.d name them. */
	if (a->protocol == VR_RTPROT)
		snprintf(proto, sizeof(proto), " proto vrouter");
	else if (a->protocol == RTPROT_KERNEL)
		snprintf(proto, sizeof(proto), " proto kernel");
	else if (a->protocol == RTPROT_BOOT)
		snprintf(proto, sizeof(proto), " proto boot");
	else if (a->protocol == RTPROT_STATIC)
		snprintf(proto, sizeof(proto), " proto static");
	else
		snprintf(proto, sizeof(proto), " proto %u", a->protocol);
	say(buf, len, "%s%s%s%s%s table %u%s metric %u",
	    a->type == RTN_UNICAST ? "" : rtn_word(a->type), a->type == RTN_UNICAST ? "" : " ", dst,
	    via, dev, a->table, proto, a->metric);
}

/* ---- where the ends sit ---- */

static void locate(struct dctx *d, const struct ipaddr *a, struct where *w)
{
	struct kroute_query rq = {.dst = *a};
	struct kroute_answer ans = {0};

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < d->nlinks; i++)
		for (size_t j = 0; j < d->links[i].naddrs; j++)
			if (cidr_addr_equal(&d->links[i].addrs[j].addr, a)) {
				w->at = AT_LOCAL;
				w->ifindex = d->links[i].ifindex;
				return;
			}
	for (size_t i = 0; i < d->nconn; i++)
		if (cidr_contains(&d->conn[i].p, a)) {
			w->at = AT_CONNECTED;
			w->ifindex = d->conn[i].ifindex;
			w->net = d->conn[i].p;
			return;
		}
	if (d->k->route_get && d->k->route_get(d->k->ctx, &rq, &ans) == 0 &&
	    ans.type == RTN_UNICAST && ans.oif > 0) {
		w->at = AT_NEXTHOP;
		w->ifindex = ans.oif;
		w->via = ans.via;
	}
}

/* Our subnet holding a (the first), or NULL. */
static const struct subnet *subnet_of(const struct dctx *d, const struct ipaddr *a)
{
	for (size_t i = 0; i < d->st->nsubnets; i++)
		if (cidr_contains(&d->st->subnets[i].cidr, a))
			return &d->st->subnets[i];
	return NULL;
}

static void check_end(struct dctx *d, const char *check, const char *text, const struct ipaddr *a,
                      struct where *w)
{
	struct diag_hop *h = hop_new(d, check);
	const struct subnet *sn = subnet_of(d, a);
	char net[CIDR_STR_MAX], via[CIDR_STR_MAX];

	locate(d, a, w);
	if (sn)
		hop_id(h, sn->id);
	switch (w->at) {
	case AT_LOCAL:
		say(h->kernel, sizeof(h->kernel), "local %s dev %s", text,
		    link_name(d, w->ifindex));
		say(h->detail, sizeof(h->detail), "%s is this host (an address of %s)", text,
		    link_name(d, w->ifindex));
		break;
	case AT_CONNECTED:
		cidr_format_prefix(&w->net, net, sizeof(net));
		say(h->kernel, sizeof(h->kernel), "%s dev %s proto kernel scope link", net,
		    link_name(d, w->ifindex));
		say(h->detail, sizeof(h->detail), "%s is on the connected network %s of %s", text,
		    net, link_name(d, w->ifindex));
		break;
	case AT_NEXTHOP:
		cidr_format_addr(&w->via, via, sizeof(via));
		if (w->via.family)
			say(h->kernel, sizeof(h->kernel), "%s via %s dev %s", text, via,
			    link_name(d, w->ifindex));
		else
			say(h->kernel, sizeof(h->kernel), "%s dev %s", text,
			    link_name(d, w->ifindex));
		say(h->detail, sizeof(h->detail), "%s is behind %s%s on %s", text,
		    w->via.family ? "the next hop " : "", w->via.family ? via : "a link",
		    link_name(d, w->ifindex));
		break;
	case AT_NOWHERE:
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail),
		    "%s is not on a network of this host and no route leads to it", text);
		break;
	}
}

/* ---- forwarding ---- */

static void check_forwarding(struct dctx *d)
{
	struct diag_hop *h = hop_new(d, "forwarding");
	struct diag_suggestion *s;
	bool v4 = false, v6 = false, v4fam = d->q->src.family == AF_INET;
	const char *sysctl = v4fam ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding";

	if (!d->forwarded) {
		h->verdict = DIAG_SKIP;
		say(h->detail, sizeof(h->detail),
		    "this host is one end of the flow: nothing is forwarded");
		return;
	}
	if (!d->k->forwarding_get || d->k->forwarding_get(d->k->ctx, &v4, &v6)) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail),
		    "the kernel's forwarding setting could not be read");
		return;
	}
	d->fwd_on = v4fam ? v4 : v6;
	say(h->kernel, sizeof(h->kernel), "%s = %d", sysctl, d->fwd_on);
	if (d->fwd_on) {
		say(h->detail, sizeof(h->detail), "IPv%c forwarding is on", v4fam ? '4' : '6');
		return;
	}
	say(h->detail, sizeof(h->detail),
	    "IPv%c forwarding is off on this host (%s = 0): it drops every packet from %s to %s "
	    "instead of passing it on",
	    v4fam ? '4' : '6', sysctl, d->q->source, d->q->destination);
	s = fail(d, h, DIAG_FORWARDING_DISABLED, NULL);
	if (s) {
		fix_call(s, "PUT", "/v1/settings");
		fix_bool(s, "forwarding.ipv4", v4fam ? true : v4);
		fix_bool(s, "forwarding.ipv6", v4fam ? v6 : true);
	}
}

/* ---- routes: desired against the kernel ---- */

/* The table traffic from src uses: its subnet's association, else main. */
static uint32_t table_of(const struct dctx *d, const char **table_id)
{
	const struct subnet *sn = d->src.at == AT_LOCAL ? NULL : subnet_of(d, &d->q->src);

	if (sn && sn->table != RTB_MAIN_TABLE) {
		*table_id = sn->table_id;
		return sn->table;
	}
	*table_id = RTB_MAIN_ID;
	return RTB_MAIN_TABLE;
}

/* Whether the kernel holds desired route rt, judged on its kernel form (why: if not). */
static bool applied(const struct dctx *d, const struct route *rt, char *why, size_t len)
{
	const struct plan_links lk = {.index = d->k->link_index, .ctx = d->k->ctx};
	struct obj_status os = {0};
	struct kroute kr;

	if (plan_kroute_of(rt, &lk, &kr, why, len))
		return false;
	for (size_t i = 0; i < d->nobserved; i++)
		if (plan_kroute_satisfies(&kr, &d->observed[i]))
			return true;
	if (d->st->route_status)
		d->st->route_status(d->st->status_ctx, rt->id, &os);
	say(why, len, "%s",
	    os.state == OBJ_FAILED && os.reason[0] ? os.reason : "not in the kernel");
	return false;
}

/* The desired route of table for dst that the kernel should pick: longest prefix, lowest metric. */
static const struct route *best_desired(const struct dctx *d, uint32_t table,
                                        const struct ipaddr *dst)
{
	const struct route *best = NULL;

	for (size_t i = 0; i < d->st->nroutes; i++) {
		const struct route *rt = &d->st->routes[i];

		if (rt->table != table || !cidr_contains(&rt->dst, dst))
			continue;
		if (!best || rt->dst.len > best->dst.len ||
		    (rt->dst.len == best->dst.len && rt->metric < best->metric))
			best = rt;
	}
	return best;
}

/* The desired route whose kernel form is the kernel's matched route a, or NULL. */
static const struct route *desired_of(const struct dctx *d, const struct kroute_answer *a)
{
	const struct plan_links lk = {.index = d->k->link_index, .ctx = d->k->ctx};
	struct kroute have = {
	    .table = a->table, .dst = a->dst, .type = a->type, .metric = a->metric};
	char why[REASON_MAX];

	if (a->protocol != VR_RTPROT)
		return NULL;
	for (size_t i = 0; i < d->st->nroutes; i++) {
		struct kroute kr;

		if (plan_kroute_of(&d->st->routes[i], &lk, &kr, why, sizeof(why)) == 0 &&
		    plan_kroute_same_key(&kr, &have))
			return &d->st->routes[i];
	}
	return NULL;
}

/*
 * The lookup for the packet: an input lookup on the interface the packet
 * comes in by when it is forwarded (policy rules and forwarding count), an
 * output lookup from this host's own address otherwise.
 */
static int lookup(struct dctx *d, const struct ipaddr *from, const struct where *fw,
                  const struct ipaddr *to, struct kroute_answer *a)
{
	struct kroute_query rq = {.dst = *to};

	memset(a, 0, sizeof(*a));
	if (fw->at == AT_LOCAL) {
		rq.src = *from;
	} else if (fw->ifindex > 0 && (!d->forwarded || d->fwd_on)) {
		rq.src = *from;
		rq.iif = fw->ifindex;
	}
	return d->k->route_get(d->k->ctx, &rq, a);
}

static enum diag_code reject_code(uint8_t type)
{
	switch (type) {
	case RTN_BLACKHOLE: return DIAG_BLACKHOLE_ROUTE;
	case RTN_UNREACHABLE: return DIAG_UNREACHABLE_ROUTE;
	case RTN_PROHIBIT: return DIAG_PROHIBIT_ROUTE;
	}
	return DIAG_NO_ROUTE;
}

/* A route to create for dst in table_id; the next hop is the operator's to name. */
static void fix_new_route(struct diag_suggestion *s, const char *table_id, const struct ipaddr *dst,
                          const char *what)
{
	char p[CIDR_STR_MAX];

	host_prefix(dst, p, sizeof(p));
	fix_call(s, "POST", "/v1/routes");
	fix_str(s, "route_table_id", table_id);
	fix_str(s, "destination", p);
	fix_str(s, "via", "NEXT_HOP");
	s->complete = false;
	say(s->note, sizeof(s->note),
	    "replace NEXT_HOP with the gateway that leads to %s (or the destination with its "
	    "whole network)",
	    what);
}

static void check_route(struct dctx *d)
{
	struct diag_hop *h = hop_new(d, "route");
	const char *tid;
	uint32_t table = table_of(d, &tid);
	const struct route *best = best_desired(d, table, &d->q->dst), *ours = NULL;
	struct kroute_answer a;
	struct diag_suggestion *s;
	char why[REASON_MAX] = "";
	bool best_ok = best && applied(d, best, why, sizeof(why));
	int rc;

	if (!d->k->route_get) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail), "this kernel adapter cannot look routes up");
		return;
	}
	rc = lookup(d, &d->q->src, &d->src, &d->q->dst, &a);
	if (rc == 0 || is_reject(a.type)) {
		answer_words(d, &a, h->kernel, sizeof(h->kernel));
		ours = desired_of(d, &a);
		hop_id(h, ours ? ours->id : NULL);
	} else {
		say(h->kernel, sizeof(h->kernel), "ip route get %s: %s", d->q->destination,
		    strerror(-rc));
	}
	/* A desired route more specific than what the kernel found is missing from it. */
	if (best && !best_ok && (rc != 0 || best->dst.len >= a.dst.len) && best != ours) {
		hop_id(h, best->id);
		say(h->detail, sizeof(h->detail),
		    "route %s (%s%s%s) should carry this packet but is not applied: %s", best->id,
		    best->destination, best->via_text[0] ? " via " : "", best->via_text, why);
		s = fail(d, h, DIAG_ROUTE_NOT_APPLIED, best->id);
		if (s) {
			char path[128];

			snprintf(path, sizeof(path), "/v1/routes/%s", best->id);
			fix_call(s, "PUT", path);
			fix_str(s, "route_table_id", best->table_id);
			fix_str(s, "destination", best->destination);
			fix_str(s, "via", "NEXT_HOP");
			s->complete = false;
			say(s->note, sizeof(s->note),
			    "replace NEXT_HOP with a gateway on a network this host is connected "
			    "to "
			    "(or add the subnet that connects %s)",
			    best->via_text[0] ? best->via_text : "its device");
		}
		return;
	}
	if (rc == 0 && (a.type == RTN_UNICAST || a.type == RTN_LOCAL)) {
		say(h->detail, sizeof(h->detail), "the kernel routes %s to %s%s%s",
		    d->q->destination, a.type == RTN_LOCAL ? "this host" : link_name(d, a.oif),
		    ours ? " by route " : "", ours ? ours->id : "");
		return;
	}
	if (is_reject(a.type)) {
		say(h->detail, sizeof(h->detail), "%s route %s%s%s drops packets to %s%s",
		    rtn_word(a.type), ours ? ours->id : "", ours ? " " : "",
		    ours ? ours->destination : "(not made by vrouter)", d->q->destination,
		    a.type == RTN_BLACKHOLE ? " silently" : " and answers with an ICMP error");
		s = fail(d, h, reject_code(a.type), ours ? ours->id : NULL);
		if (s && ours) {
			char path[128];

			snprintf(path, sizeof(path), "/v1/routes/%s", ours->id);
			fix_call(s, "DELETE", path);
		}
		return;
	}
	hop_id(h, tid);
	say(h->detail, sizeof(h->detail), "no route to %s in table %u (%s)", d->q->destination,
	    table, tid);
	s = fail(d, h, DIAG_NO_ROUTE, tid);
	if (s)
		fix_new_route(s, tid, &d->q->dst, d->q->destination);
}

/* ---- security groups ---- */

/* The drop counter of group gid in direction dir in v[0..n), or NULL. */
static const struct kcounter *counter_of(const struct kcounter *v, size_t n, const char *gid,
                                         enum sg_direction dir)
{
	char name[SGC_NAME_MAX];

	sgc_drop_counter_name(gid, dir, name);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

static const char *dir_word(enum sg_direction dir)
{
	return dir == SG_INGRESS ? "ingress" : "egress";
}

static void check_sg(struct dctx *d, enum sg_direction dir)
{
	const struct diag_state *st = d->st;
	struct diag_hop *h =
	    hop_new(d, dir == SG_INGRESS ? "security_group_ingress" : "security_group_egress");
	const struct ipaddr *host = dir == SG_INGRESS ? &d->q->dst : &d->q->src;
	const struct ipaddr *peer = dir == SG_INGRESS ? &d->q->src : &d->q->dst;
	const char *host_text = dir == SG_INGRESS ? d->q->destination : d->q->source;
	bool local = (dir == SG_INGRESS ? d->dst.at : d->src.at) == AT_LOCAL;
	struct sgc_flow f = {.src = d->q->src,
	                     .dst = d->q->dst,
	                     .proto = d->q->proto,
	                     .dport = d->q->port,
	                     .src_local = d->src.at == AT_LOCAL,
	                     .dst_local = d->dst.at == AT_LOCAL};
	const struct security_group *first = NULL;
	size_t ncover = 0;
	bool restricted = dir == SG_INGRESS;

	for (size_t i = 0; i < st->ngroups; i++) {
		const struct security_group *g = &st->groups[i];

		if (!sgc_covers(g, host, local))
			continue;
		ncover++;
		hop_id(h, g->id);
		if (d->nguards < sizeof(d->guards) / sizeof(d->guards[0])) {
			d->guards[d->nguards].gid = g->id;
			d->guards[d->nguards++].dir = dir;
		}
		for (size_t j = 0; j < st->nrules; j++) {
			const struct sg_rule *r = &st->rules[j];

			if (strcmp(r->group_id, g->id) || r->direction != dir)
				continue;
			restricted = true;
			if (!first)
				first = g;
			if (!sgc_rule_allows(r, st->groups, st->ngroups, &f))
				continue;
			h->nids = 0;
			hop_id(h, g->id);
			hop_id(h, r->id);
			say(h->detail, sizeof(h->detail), "rule %s of group %s (%s) allows it",
			    r->id, g->id, g->name);
			return;
		}
		if (!first && dir == SG_INGRESS)
			first = g;
	}
	if (!ncover) {
		say(h->detail, sizeof(h->detail),
		    "no security group guards %s: its %s is not filtered", host_text,
		    dir_word(dir));
		return;
	}
	if (!restricted) {
		say(h->detail, sizeof(h->detail),
		    "no group of %s has egress rules: everything it sends is allowed", host_text);
		return;
	}
	{
		const struct kcounter *c =
		    d->have_ctr0 ? counter_of(d->ctr0, d->nctr0, first->id, dir) : NULL;
		char peer_p[CIDR_STR_MAX];
		struct diag_suggestion *s;

		if (c)
			say(h->kernel, sizeof(h->kernel),
			    "counter %s packets %" PRIu64 " bytes %" PRIu64, c->name, c->packets,
			    c->bytes);
		char port[16] = "";

		if (d->q->port)
			snprintf(port, sizeof(port), " port %u", d->q->port);
		say(h->detail, sizeof(h->detail),
		    "no %s rule of group %s (%s)%s allows %s from %s to %s%s: the guard drops it",
		    dir_word(dir), first->id, first->name,
		    ncover > 1 ? " or of the host's other groups" : "", d->q->protocol,
		    d->q->source, d->q->destination, port);
		s = fail(d, h,
		         dir == SG_INGRESS ? DIAG_SG_INGRESS_NO_MATCH : DIAG_SG_EGRESS_NO_MATCH,
		         first->id);
		if (!s)
			return;
		host_prefix(peer, peer_p, sizeof(peer_p));
		fix_call(s, "POST", "/v1/security-group-rules");
		fix_str(s, "security_group_id", first->id);
		fix_str(s, "direction", dir_word(dir));
		fix_str(s, "protocol", d->q->protocol);
		if (d->q->port) {
			fix_int(s, "port_from", d->q->port);
			fix_int(s, "port_to", d->q->port);
		}
		fix_str(s, "cidr", peer_p);
	}
}

/* ---- the way back ---- */

static void check_return(struct dctx *d)
{
	struct diag_hop *h = hop_new(d, "return_path");
	const struct route *ours;
	struct diag_suggestion *s;
	struct kroute_answer a;
	int rc;

	if (d->src.at == AT_LOCAL) {
		h->verdict = DIAG_SKIP;
		say(h->detail, sizeof(h->detail), "replies come back to this host itself");
		return;
	}
	if (!d->k->route_get) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail), "this kernel adapter cannot look routes up");
		return;
	}
	rc = lookup(d, &d->q->dst, &d->dst, &d->q->src, &a);
	if (rc == 0 && a.type == RTN_UNICAST) {
		answer_words(d, &a, h->kernel, sizeof(h->kernel));
		ours = desired_of(d, &a);
		hop_id(h, ours ? ours->id : NULL);
		say(h->detail, sizeof(h->detail), "replies to %s leave by %s%s", d->q->source,
		    link_name(d, a.oif),
		    d->src.ifindex && a.oif != d->src.ifindex
		        ? " (not the way the requests came in)"
		        : "");
		return;
	}
	ours = NULL;
	if (is_reject(a.type)) {
		answer_words(d, &a, h->kernel, sizeof(h->kernel));
		ours = desired_of(d, &a);
		hop_id(h, ours ? ours->id : NULL);
	} else {
		say(h->kernel, sizeof(h->kernel), "ip route get %s from %s: %s", d->q->source,
		    d->q->destination, rc ? strerror(-rc) : rtn_word(a.type));
	}
	say(h->detail, sizeof(h->detail),
	    "this host has no usable route back to %s: replies from %s would be dropped here",
	    d->q->source, d->q->destination);
	s = fail(d, h, DIAG_NO_RETURN_ROUTE, ours ? ours->id : NULL);
	if (s && ours) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/routes/%s", ours->id);
		fix_call(s, "DELETE", path);
	} else if (s) {
		fix_new_route(s, RTB_MAIN_ID, &d->q->src, d->q->source);
	}
}

/* ---- what was seen ---- */

static uint8_t l4proto_of(enum sg_protocol p)
{
	switch (p) {
	case SG_PROTO_TCP: return IPPROTO_TCP;
	case SG_PROTO_UDP: return IPPROTO_UDP;
	case SG_PROTO_ICMP: return IPPROTO_ICMP;
	default: break;
	}
	return IPPROTO_ICMPV6;
}

/* One conntrack entry as "conntrack -L" prints it (abridged). */
static size_t flow_words(const struct kflow *f, const char *proto, char *buf, size_t len)
{
	char s[CIDR_STR_MAX], t[CIDR_STR_MAX], pk[32] = "";
	int n;

	cidr_format_addr(&f->src, s, sizeof(s));
	cidr_format_addr(&f->dst, t, sizeof(t));
	/* Packet counts exist only with net.netfilter.nf_conntrack_acct = 1. */
	if (f->packets_orig || f->packets_reply)
		snprintf(pk, sizeof(pk), " packets=%" PRIu64, f->packets_orig);
	if (f->l4proto == IPPROTO_ICMP || f->l4proto == IPPROTO_ICMPV6)
		n = snprintf(buf, len, "%s src=%s dst=%s type=%u code=%u id=%u%s%s", proto, s, t,
		             f->dport >> 8, f->dport & 0xff, f->sport,
		             f->seen_reply ? "" : " [UNREPLIED]", pk);
	else
		n = snprintf(buf, len, "%s src=%s dst=%s sport=%u dport=%u%s%s", proto, s, t,
		             f->sport, f->dport, f->seen_reply ? "" : " [UNREPLIED]", pk);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/*
 * The drop counters of the groups guarding the two ends, read again now and
 * shown beside their values at the start ("counter drop_in_sg-1 packets
 * 3 -> 5"), after buf[0..at); returns the new length.
 */
static size_t counters_words(const struct dctx *d, char *buf, size_t len, size_t at)
{
	struct kcounter *now = NULL;
	size_t n = 0;

	if (!d->have_ctr0 || !d->nguards || d->k->nft_counters(d->k->nft, &now, &n))
		return at;
	for (size_t i = 0; i < d->nguards && at < len; i++) {
		const struct kcounter *a =
		    counter_of(d->ctr0, d->nctr0, d->guards[i].gid, d->guards[i].dir);
		const struct kcounter *b = counter_of(now, n, d->guards[i].gid, d->guards[i].dir);
		int w;

		if (!a || !b)
			continue;
		w = snprintf(buf + at, len - at, "%scounter %s packets %" PRIu64 " -> %" PRIu64,
		             at ? "; " : "", a->name, a->packets, b->packets);
		at = w < 0 ? at : at + (size_t)w < len ? at + (size_t)w : len - 1;
	}
	free(now);
	return at;
}

/*
 * Most time left first: of two entries of a flow, the later attempt (the
 * timeouts of one protocol restart alike); on a tie the unreplied one, so a
 * fresh failure is never hidden behind an old success.
 */
static int newest_first(const void *a, const void *b)
{
	const struct kflow *x = a, *y = b;

	if (x->timeout != y->timeout)
		return x->timeout > y->timeout ? -1 : 1;
	return (int)x->seen_reply - (int)y->seen_reply;
}

/* This host's address on link ifindex in a's family (the same network first), for a next hop. */
static bool my_addr_on(const struct dctx *d, int ifindex, const struct ipaddr *a,
                       struct ipaddr *out)
{
	bool found = false;

	for (size_t i = 0; i < d->nlinks; i++) {
		if (d->links[i].ifindex != ifindex)
			continue;
		for (size_t j = 0; j < d->links[i].naddrs; j++) {
			const struct prefix *p = &d->links[i].addrs[j];

			if (p->addr.family != a->family)
				continue;
			if (cidr_contains(p, a)) {
				*out = p->addr;
				return true;
			}
			if (!found) {
				*out = p->addr;
				found = true;
			}
		}
	}
	return found;
}

static void check_observed(struct dctx *d)
{
	struct diag_hop *h = hop_new(d, "observation");
	struct kflow_query fq = {.l4proto = l4proto_of(d->q->proto),
	                         .src = d->q->src,
	                         .dst = d->q->dst,
	                         .dport = d->q->port};
	struct kflow *fl = NULL;
	size_t n = 0, replied = 0, at = 0;
	bool latest_replied;
	struct diag_suggestion *s;
	int rc;

	if (!d->k->ct_find) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail),
		    "this kernel adapter cannot read connection tracking");
		return;
	}
	rc = d->k->ct_find(d->k->ctx, &fq, &fl, &n);
	if (rc) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail), "connection tracking could not be read: %s",
		    strerror(-rc));
		return;
	}
	/* Newest first: the one with the most time left is the latest attempt. */
	if (n) /* an empty answer may be NULL, which qsort must not get */
		qsort(fl, n, sizeof(*fl), newest_first);
	latest_replied = n && fl[0].seen_reply;
	for (size_t i = 0; i < n; i++) {
		replied += fl[i].seen_reply;
		if (i < DIAG_FLOWS_SHOWN) {
			if (at)
				at +=
				    (size_t)snprintf(h->kernel + at, sizeof(h->kernel) - at, "; ");
			if (at < sizeof(h->kernel))
				at += flow_words(&fl[i], d->q->protocol, h->kernel + at,
				                 sizeof(h->kernel) - at);
		}
	}
	free(fl);
	at = counters_words(d, h->kernel, sizeof(h->kernel), at);
	if (n == 0) {
		h->verdict = DIAG_UNKNOWN;
		say(h->detail, sizeof(h->detail),
		    "no connection-tracking entry for this flow: nothing tried it lately, or "
		    "connection tracking is not active here");
		return;
	}
	if (latest_replied) {
		say(h->detail, sizeof(h->detail),
		    "the latest tracked connection saw replies (%zu of %zu did)", replied, n);
		return;
	}
	say(h->detail, sizeof(h->detail),
	    "%zu connection%s from %s to %s went out through this host and nothing came back: "
	    "%s probably has no route back to %s, or drops the replies",
	    n - replied, n - replied == 1 ? "" : "s", d->q->source, d->q->destination,
	    d->q->destination, d->q->source);
	s = fail(d, h, DIAG_NO_REPLY_OBSERVED, NULL);
	if (s) {
		struct ipaddr via;
		char dst[CIDR_STR_MAX], v[CIDR_STR_MAX];

		if (d->src.at == AT_CONNECTED)
			cidr_format_prefix(&d->src.net, dst, sizeof(dst));
		else
			host_prefix(&d->q->src, dst, sizeof(dst));
		fix_call(s, "POST", "/v1/routes");
		fix_str(s, "destination", dst);
		s->on_destination = true;
		if (d->dst.at == AT_CONNECTED && my_addr_on(d, d->dst.ifindex, &d->q->dst, &via)) {
			cidr_format_addr(&via, v, sizeof(v));
			fix_str(s, "via", v);
			say(s->note, sizeof(s->note),
			    "send it to the vrouterd of %s: its way back to %s through this host",
			    d->q->destination, dst);
		} else {
			fix_str(s, "via", "NEXT_HOP");
			s->complete = false;
			say(s->note, sizeof(s->note),
			    "send it to the vrouterd of %s, with NEXT_HOP its gateway towards %s",
			    d->q->destination, dst);
		}
	}
}

/* ---- the whole answer ---- */

int diag_reachability(const struct kernel_ops *k, const struct diag_state *st,
                      const struct diag_request *q, struct diag_result *out, char *why, size_t len)
{
	struct dctx d = {.k = k, .st = st, .q = q, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = k->links_list ? k->links_list(k->ctx, &d.links, &d.nlinks) : -EOPNOTSUPP;
	if (rc) {
		say(why, len, "reading the links: %s", strerror(-rc));
		goto out;
	}
	rc = plan_connected(d.links, d.nlinks, NULL, 0, &d.conn, &d.nconn);
	if (rc) {
		say(why, len, "out of memory");
		goto out;
	}
	rc = k->route_dump ? k->route_dump(k->ctx, &d.observed, &d.nobserved) : 0;
	if (rc) {
		say(why, len, "reading the kernel's routes: %s", strerror(-rc));
		goto out;
	}
	d.have_ctr0 = k->nft && k->nft_counters && k->nft_counters(k->nft, &d.ctr0, &d.nctr0) == 0;

	check_end(&d, "source", q->source, &q->src, &d.src);
	check_end(&d, "destination", q->destination, &q->dst, &d.dst);
	d.forwarded = d.src.at != AT_LOCAL && d.dst.at != AT_LOCAL;
	check_forwarding(&d);
	check_route(&d);
	check_sg(&d, SG_EGRESS);
	check_sg(&d, SG_INGRESS);
	check_return(&d);
	check_observed(&d);
	out->reachable = out->code == DIAG_OK;
	rc = 0;
out:
	if (k->links_list && d.links)
		kernel_links_free(d.links, d.nlinks);
	free(d.conn);
	free(d.observed);
	free(d.ctr0);
	return rc;
}
