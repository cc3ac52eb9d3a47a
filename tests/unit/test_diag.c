/*
 * The reachability verdicts (core/diag.c) against the fake kernel, set up as
 * the seed lab's router: eth0 192.168.150.3/24 (net01's side), eth1
 * 192.168.100.3/24 (net02's side). Each failure is named with its code, its
 * object and a suggestion; a suggested security-group rule, added to the
 * state, makes the same question reachable and is named as the allowing rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "fake_kernel.h"
#include "plan.h"
#include "sgc.h"

#define MAXO 16

struct fx {
	struct route routes[MAXO];
	size_t nroutes;
	struct subnet subnets[MAXO];
	size_t nsubnets;
	struct security_group groups[MAXO];
	size_t ngroups;
	struct sg_rule rules[MAXO];
	size_t nrules;
	struct obj_status status[MAXO]; /* of routes[i] */
	struct diag_result res;
	struct kernel_ops k;
};

static struct ipaddr A(const char *s) {
	struct ipaddr a;

	if (cidr_parse_addr(s, &a))
		fail_msg("fixture address %s", s);
	return a;
}

static struct prefix
P(const char *s) {
	struct prefix p;

	/* An address on a link has its host bits set: -EDOM fills p all the same. */
	int rc = cidr_parse_prefix(s, true, &p);

	if (rc && rc != -EDOM)
		fail_msg("fixture prefix %s", s);
	return p;
}

static void
foreign_addr(int ifindex, const char *p)
{
	fk.fa[fk.nfa].ifindex = ifindex;
	fk.fa[fk.nfa++].p = P(p);
}

/* route_get: dst inside pfx answers a unicast route out of oif (via: "" = connected). */
static void rget(const char *pfx, int iif, uint8_t type, int oif, const char *via, uint8_t proto)
{
	struct fake_rget *g = &fk.rg[fk.nrg++];

	memset(g, 0, sizeof(*g));
	g->dst = P(pfx);
	g->iif = iif;
	g->a.type = type;
	g->a.table = RTB_MAIN_TABLE;
	g->a.dst = g->dst;
	g->a.oif = oif;
	g->a.protocol = proto;
	if (via[0])
		g->a.via = A(via);
	g->rc = type == RTN_UNICAST || type == RTN_LOCAL ? 0
	        : type == RTN_BLACKHOLE                  ? -EINVAL
	        : type == RTN_PROHIBIT                   ? -EACCES
	                                                 : -EHOSTUNREACH;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	foreign_addr(2, "192.168.150.3/24");
	foreign_addr(3, "192.168.100.3/24");
	fk.fwd4 = true;
	rget("192.168.150.0/24", -1, RTN_UNICAST, 2, "", RTPROT_KERNEL);
	rget("192.168.100.0/24", -1, RTN_UNICAST, 3, "", RTPROT_KERNEL);
	f->k = fake_ops;
	f->k.nft = &fk;
	f->k.nft_counters = fake_nft_counters;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < f->ngroups; i++)
		free(f->groups[i].targets);
	close(fk.efd);
	pthread_mutex_destroy(&fk.lock);
	free(f);
	return 0;
}

static struct route *route(struct fx *f, const char *id, const char *dst, const char *type,
                           const char *via)
{
	struct route *r = &f->routes[f->nroutes++];
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->table_id, sizeof(r->table_id), RTB_MAIN_ID);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	snprintf(r->via_text, sizeof(r->via_text), "%s", via);
	r->type = (enum route_type)model_route_type_parse(type);
	r->table = RTB_MAIN_TABLE;
	if (model_route_validate(r, &e))
		fail_msg("fixture route: %s", e.msg);
	return r;
}

/* The route as the reconciler would have put it in the kernel. */
static void in_kernel(const struct route *r)
{
	struct kroute *k = &fk.r[fk.n++];

	memset(k, 0, sizeof(*k));
	k->table = r->table;
	k->dst = r->dst;
	k->type = plan_route_type(r->type);
	k->via = r->via;
	k->metric = r->metric;
}

static struct security_group *group(struct fx *f, const char *id, const char *name,
                                    const char *target)
{
	struct security_group *g = &f->groups[f->ngroups++];

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->targets = calloc(1, sizeof(*g->targets));
	g->ntargets = 1;
	snprintf(g->targets[0].text, sizeof(g->targets[0].text), "%s", target);
	if (!strcmp(target, "local"))
		g->targets[0].local = true;
	else
		g->targets[0].p = P(target);
	return g;
}

static void rule(struct fx *f, const char *id, const char *gid, const char *dir, const char *proto,
                 int port, const char *peer)
{
	struct sg_rule *r = &f->rules[f->nrules++];
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->group_id, sizeof(r->group_id), "%s", gid);
	r->direction = (enum sg_direction)model_sg_direction_parse(dir);
	r->protocol = (enum sg_protocol)model_sg_protocol_parse(proto);
	if (port) {
		r->port_from_set = r->port_to_set = true;
		r->port_from_in = r->port_to_in = port;
	}
	if (!strncmp(peer, "sg-", 3))
		snprintf(r->remote_group_id, sizeof(r->remote_group_id), "%s", peer);
	else
		snprintf(r->cidr_text, sizeof(r->cidr_text), "%s", peer);
	if (model_sg_rule_validate(r, &e))
		fail_msg("fixture rule: %s", e.msg);
}

static void status_of(void *ctx, const char *id, struct obj_status *out)
{
	struct fx *f = ctx;

	for (size_t i = 0; i < f->nroutes; i++)
		if (!strcmp(f->routes[i].id, id))
			*out = f->status[i];
}

static const struct diag_result *ask(struct fx *f, const char *src, const char *dst,
                                     const char *proto, int port)
{
	struct diag_request q = {0};
	struct diag_state st = {.routes = f->routes,
	                        .nroutes = f->nroutes,
	                        .subnets = f->subnets,
	                        .nsubnets = f->nsubnets,
	                        .groups = f->groups,
	                        .ngroups = f->ngroups,
	                        .rules = f->rules,
	                        .nrules = f->nrules,
	                        .route_status = status_of,
	                        .status_ctx = f};
	struct vr_err e = {0};
	char why[128];

	snprintf(q.source, sizeof(q.source), "%s", src);
	snprintf(q.destination, sizeof(q.destination), "%s", dst);
	snprintf(q.protocol, sizeof(q.protocol), "%s", proto);
	q.has_port = port != 0;
	q.port_in = port;
	if (diag_request_validate(&q, &e))
		fail_msg("request: %s", e.msg);
	assert_int_equal(diag_reachability(&f->k, &st, &q, &f->res, why, sizeof(why)), 0);
	return &f->res;
}

static const struct diag_hop *hop(const struct diag_result *r, const char *check)
{
	for (size_t i = 0; i < r->nhops; i++)
		if (!strcmp(r->hops[i].check, check))
			return &r->hops[i];
	fail_msg("no hop %s", check);
	return NULL;
}

static const struct diag_field *field(const struct diag_suggestion *s, const char *key)
{
	for (size_t i = 0; i < s->nbody; i++)
		if (!strcmp(s->body[i].key, key))
			return &s->body[i];
	fail_msg("suggestion has no %s", key);
	return NULL;
}

static bool has_id(const struct diag_hop *h, const char *id)
{
	for (size_t i = 0; i < h->nids; i++)
		if (!strcmp(h->ids[i], id))
			return true;
	return false;
}

/* A flow net01 -> net02 seen by conntrack, with timeout seconds left. */
static void flow_at(uint8_t proto, uint16_t dport, bool replied, uint32_t timeout)
{
	struct kflow *c = &fk.ct[fk.nct++];

	memset(c, 0, sizeof(*c));
	c->l4proto = proto;
	c->src = A("192.168.150.2");
	c->dst = A("192.168.100.2");
	c->sport = 40000;
	c->dport = dport;
	c->seen_reply = replied;
	c->packets_orig = 3;
	c->timeout = timeout;
}

static void flow(uint8_t proto, uint16_t dport, bool replied)
{
	flow_at(proto, dport, replied, 30);
}

static void test_working_path(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	flow(IPPROTO_TCP, 12345, true);
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 12345);
	assert_true(r->reachable);
	assert_int_equal(r->code, DIAG_OK);
	assert_false(r->fix.present);
	assert_int_equal(r->nhops, 8);
	assert_string_equal(r->hops[0].check, "source");
	assert_string_equal(r->hops[7].check, "observation");
	assert_int_equal(hop(r, "source")->verdict, DIAG_PASS);
	assert_non_null(
	    strstr(hop(r, "source")->detail, "connected network 192.168.150.0/24 of eth0"));
	assert_int_equal(hop(r, "forwarding")->verdict, DIAG_PASS);
	assert_string_equal(hop(r, "forwarding")->kernel, "net.ipv4.ip_forward = 1");
	assert_int_equal(hop(r, "route")->verdict, DIAG_PASS);
	assert_non_null(strstr(hop(r, "route")->kernel, "192.168.100.0/24 dev eth1 table 254"));
	assert_int_equal(hop(r, "return_path")->verdict, DIAG_PASS);
	assert_int_equal(hop(r, "observation")->verdict, DIAG_PASS);
	/* The forward lookup is an input lookup on the interface the packet comes in by. */
	assert_int_equal(fk.rg_last[fk.nrg_last - 2].iif, 2);
	assert_int_equal(fk.rg_last[fk.nrg_last - 1].iif, 3);
}

static void test_forwarding_off(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	fk.fwd4 = false;
	fk.fwd6 = true;
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	assert_false(r->reachable);
	assert_string_equal(diag_code_name(r->code), "FORWARDING_DISABLED");
	assert_int_equal(hop(r, "forwarding")->verdict, DIAG_FAIL);
	assert_non_null(strstr(r->message, "net.ipv4.ip_forward = 0"));
	assert_true(r->fix.present && r->fix.complete);
	assert_string_equal(r->fix.method, "PUT");
	assert_string_equal(r->fix.path, "/v1/settings");
	assert_true(field(&r->fix, "forwarding.ipv4")->b);
	assert_true(field(&r->fix, "forwarding.ipv6")->b); /* kept as it is */
	/* Without forwarding no input lookup is possible: the route is still asked for. */
	assert_int_equal(fk.nrg_last, 2);
	assert_int_equal(fk.rg_last[0].iif, 0);
}

static void test_this_host_needs_no_forwarding(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	fk.fwd4 = false;
	rget("192.168.100.3/32", -1, RTN_LOCAL, 1, "", RTPROT_KERNEL);
	r = ask(f, "192.168.150.2", "192.168.100.3", "tcp", 22);
	assert_true(r->reachable);
	assert_int_equal(hop(r, "destination")->verdict, DIAG_PASS);
	assert_non_null(strstr(hop(r, "destination")->detail, "is this host"));
	assert_int_equal(hop(r, "forwarding")->verdict, DIAG_SKIP);
}

static void test_blackhole(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	in_kernel(route(f, "rt-b1", "10.9.0.0/16", "blackhole", ""));
	rget("10.9.0.0/16", -1, RTN_BLACKHOLE, 0, "", VR_RTPROT);
	r = ask(f, "192.168.150.2", "10.9.1.1", "udp", 53);
	assert_string_equal(diag_code_name(r->code), "BLACKHOLE_ROUTE");
	assert_string_equal(r->object_id, "rt-b1");
	assert_true(has_id(hop(r, "route"), "rt-b1"));
	assert_non_null(
	    strstr(hop(r, "route")->kernel, "blackhole 10.9.0.0/16 table 254 proto vrouter"));
	assert_string_equal(r->fix.method, "DELETE");
	assert_string_equal(r->fix.path, "/v1/routes/rt-b1");
	assert_int_equal(r->fix.nbody, 0);
}

static void test_unreachable_and_prohibit(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	in_kernel(route(f, "rt-a1", "10.7.0.0/16", "unreachable", ""));
	in_kernel(route(f, "rt-a2", "10.8.0.0/16", "prohibit", ""));
	rget("10.7.0.0/16", -1, RTN_UNREACHABLE, 0, "", VR_RTPROT);
	rget("10.8.0.0/16", -1, RTN_PROHIBIT, 0, "", VR_RTPROT);
	r = ask(f, "192.168.150.2", "10.7.0.1", "icmp", 0);
	assert_string_equal(diag_code_name(r->code), "UNREACHABLE_ROUTE");
	assert_string_equal(r->object_id, "rt-a1");
	r = ask(f, "192.168.150.2", "10.8.0.1", "icmp", 0);
	assert_string_equal(diag_code_name(r->code), "PROHIBIT_ROUTE");
	assert_string_equal(r->object_id, "rt-a2");
}

static void test_no_route(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	r = ask(f, "192.168.150.2", "10.20.30.40", "tcp", 80);
	assert_false(r->reachable);
	assert_string_equal(diag_code_name(r->code), "NO_ROUTE");
	assert_string_equal(r->object_id, "rtb-main");
	assert_int_equal(hop(r, "destination")->verdict, DIAG_UNKNOWN);
	assert_string_equal(r->fix.method, "POST");
	assert_string_equal(r->fix.path, "/v1/routes");
	assert_string_equal(field(&r->fix, "destination")->s, "10.20.30.40/32");
	assert_false(r->fix.complete);
	assert_non_null(strstr(r->fix.note, "NEXT_HOP"));
}

static void test_route_not_applied(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	route(f, "rt-c1", "10.20.0.0/16", "unicast", "10.0.0.1");
	f->status[0].state = OBJ_FAILED;
	snprintf(f->status[0].reason, sizeof(f->status[0].reason),
	         "gateway 10.0.0.1 is not on any connected network");
	r = ask(f, "192.168.150.2", "10.20.30.40", "tcp", 80);
	assert_string_equal(diag_code_name(r->code), "ROUTE_NOT_APPLIED");
	assert_string_equal(r->object_id, "rt-c1");
	assert_non_null(strstr(r->message, "gateway 10.0.0.1 is not on any connected network"));
	assert_string_equal(r->fix.method, "PUT");
	assert_string_equal(r->fix.path, "/v1/routes/rt-c1");

	/* Once the kernel holds it (its kernel form, as the planner makes it), it routes. */
	in_kernel(&f->routes[0]);
	rget("10.20.0.0/16", -1, RTN_UNICAST, 2, "192.168.150.9", VR_RTPROT);
	f->routes[0].via = A("192.168.150.9");
	fk.r[0].via = f->routes[0].via;
	r = ask(f, "192.168.100.2", "10.20.30.40", "tcp", 80);
	assert_int_equal(hop(r, "route")->verdict, DIAG_PASS);
	assert_true(has_id(hop(r, "route"), "rt-c1"));
}

/* Traffic from a subnet associated with another table: that table is the one checked. */
static void test_associated_table(void **state)
{
	struct fx *f = *state;
	struct subnet *sn = &f->subnets[f->nsubnets++];
	struct vr_err e = {0};
	const struct diag_result *r;
	struct route *rt;

	snprintf(sn->id, sizeof(sn->id), "subnet-a1");
	snprintf(sn->name, sizeof(sn->name), "lan");
	snprintf(sn->cidr_text, sizeof(sn->cidr_text), "192.168.150.0/24");
	snprintf(sn->interface, sizeof(sn->interface), "eth0");
	snprintf(sn->router_ip_text, sizeof(sn->router_ip_text), "192.168.150.3");
	snprintf(sn->table_id, sizeof(sn->table_id), "rtb-a1");
	if (model_subnet_validate(sn, &e))
		fail_msg("fixture subnet: %s", e.msg);
	sn->table = 10000;
	r = ask(f, "192.168.150.2", "10.30.0.1", "tcp", 80);
	assert_string_equal(diag_code_name(r->code), "NO_ROUTE");
	assert_string_equal(r->object_id, "rtb-a1");
	assert_string_equal(field(&r->fix, "route_table_id")->s, "rtb-a1");
	assert_true(has_id(hop(r, "source"), "subnet-a1"));

	/* A route of main does not count for it; one of its own table, not applied, does. */
	route(f, "rt-d1", "10.30.0.0/16", "unicast", "10.0.0.1");
	r = ask(f, "192.168.150.2", "10.30.0.1", "tcp", 80);
	assert_string_equal(diag_code_name(r->code), "NO_ROUTE");
	rt = route(f, "rt-d2", "10.30.0.0/16", "unicast", "10.0.0.1");
	snprintf(rt->table_id, sizeof(rt->table_id), "rtb-a1");
	rt->table = 10000;
	r = ask(f, "192.168.150.2", "10.30.0.1", "tcp", 80);
	assert_string_equal(diag_code_name(r->code), "ROUTE_NOT_APPLIED");
	assert_string_equal(r->object_id, "rt-d2");
}

static void test_sg_ingress_then_suggestion(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;
	struct diag_suggestion fix;

	group(f, "sg-e1", "web", "192.168.100.2");
	rule(f, "sgr-5", "sg-e1", "ingress", "tcp", 22, "0.0.0.0/0");
	fk.ctr[0] = (struct kcounter){.name = "drop_in_sg-e1", .packets = 4, .bytes = 240};
	fk.nctr = 1;
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 12345);
	assert_false(r->reachable);
	assert_string_equal(diag_code_name(r->code), "SG_INGRESS_NO_MATCH");
	assert_string_equal(r->object_id, "sg-e1");
	assert_non_null(strstr(r->message, "port 12345"));
	assert_string_equal(hop(r, "security_group_ingress")->kernel,
	                    "counter drop_in_sg-e1 packets 4 bytes 240");
	assert_int_equal(hop(r, "security_group_egress")->verdict, DIAG_PASS);
	/* Observation: the guard's counter at the start of the question and at its end. */
	assert_string_equal(hop(r, "observation")->kernel, "counter drop_in_sg-e1 packets 4 -> 4");
	fix = r->fix;
	assert_string_equal(fix.method, "POST");
	assert_string_equal(fix.path, "/v1/security-group-rules");
	assert_string_equal(field(&fix, "security_group_id")->s, "sg-e1");
	assert_string_equal(field(&fix, "direction")->s, "ingress");
	assert_string_equal(field(&fix, "protocol")->s, "tcp");
	assert_int_equal(field(&fix, "port_from")->i, 12345);
	assert_int_equal(field(&fix, "port_to")->i, 12345);
	assert_string_equal(field(&fix, "cidr")->s, "192.168.150.2/32");

	/* The suggested rule, as the API would store it: now reachable, and it is named. */
	rule(f, "sgr-e", field(&fix, "security_group_id")->s, field(&fix, "direction")->s,
	     field(&fix, "protocol")->s, (int)field(&fix, "port_from")->i, field(&fix, "cidr")->s);
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 12345);
	assert_true(r->reachable);
	assert_true(has_id(hop(r, "security_group_ingress"), "sgr-e"));
	assert_true(has_id(hop(r, "security_group_ingress"), "sg-e1"));
	assert_non_null(strstr(hop(r, "security_group_ingress")->detail, "rule sgr-e"));
	/* Another port is still refused. */
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 12346);
	assert_string_equal(diag_code_name(r->code), "SG_INGRESS_NO_MATCH");
}

static void test_sg_egress_and_remote(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	group(f, "sg-c1", "clients", "192.168.150.0/24");
	rule(f, "sgr-d", "sg-c1", "egress", "udp", 53, "0.0.0.0/0");
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	assert_string_equal(diag_code_name(r->code), "SG_EGRESS_NO_MATCH");
	assert_string_equal(r->object_id, "sg-c1");
	assert_string_equal(field(&r->fix, "direction")->s, "egress");
	assert_string_equal(field(&r->fix, "cidr")->s, "192.168.100.2/32");
	assert_int_equal(r->fix.nbody, 4); /* no ports for icmp */

	/* An egress rule naming the destination's group by reference. */
	group(f, "sg-5", "servers", "192.168.100.0/24");
	rule(f, "sgr-f", "sg-c1", "egress", "icmp", 0, "sg-5");
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	/* sg-5 now covers the destination and has no ingress rule: ingress blocks. */
	assert_true(has_id(hop(r, "security_group_egress"), "sgr-f"));
	assert_int_equal(hop(r, "security_group_egress")->verdict, DIAG_PASS);
	assert_string_equal(diag_code_name(r->code), "SG_INGRESS_NO_MATCH");
	assert_string_equal(r->object_id, "sg-5");
	rule(f, "sgr-1", "sg-5", "ingress", "icmp", 0, "sg-c1");
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	assert_true(r->reachable);
	assert_true(has_id(hop(r, "security_group_ingress"), "sgr-1"));
}

static void test_local_group_guards_only_this_host(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	/* `local` guards this host: forwarded traffic is not its business. */
	group(f, "sg-f", "ufw", "local");
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 22);
	assert_true(r->reachable);
	rget("192.168.100.3/32", -1, RTN_LOCAL, 1, "", RTPROT_KERNEL);
	r = ask(f, "192.168.150.2", "192.168.100.3", "tcp", 22);
	assert_string_equal(diag_code_name(r->code), "SG_INGRESS_NO_MATCH");
	assert_string_equal(r->object_id, "sg-f");
}

static void test_no_reply_observed(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	flow(IPPROTO_ICMP, 8 << 8, false);
	flow(IPPROTO_ICMP, 8 << 8, false);
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	assert_false(r->reachable);
	assert_string_equal(diag_code_name(r->code), "NO_REPLY_OBSERVED");
	assert_int_equal(hop(r, "route")->verdict, DIAG_PASS);
	assert_int_equal(hop(r, "observation")->verdict, DIAG_FAIL);
	assert_non_null(
	    strstr(hop(r, "observation")->kernel, "type=8 code=0 id=40000 [UNREPLIED]"));
	assert_non_null(strstr(r->message, "192.168.100.2 probably has no route back"));
	assert_true(r->fix.on_destination);
	assert_true(r->fix.complete);
	assert_string_equal(r->fix.path, "/v1/routes");
	assert_string_equal(field(&r->fix, "destination")->s, "192.168.150.0/24");
	assert_string_equal(field(&r->fix, "via")->s, "192.168.100.3");
	assert_non_null(strstr(r->message, "2 connections from"));
	/* A tcp question is not answered by icmp entries. */
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 80);
	assert_true(r->reachable);
	assert_int_equal(hop(r, "observation")->verdict, DIAG_UNKNOWN);
}

/* The latest attempt decides: an old success does not hide a new failure, nor the reverse. */
static void test_latest_flow_decides(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;
	const char *k, *semi, *un;

	flow_at(IPPROTO_TCP, 12345, true, 40);   /* closed a while ago (TIME_WAIT) */
	flow_at(IPPROTO_TCP, 12345, false, 118); /* a SYN just now, unanswered */
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 12345);
	assert_string_equal(diag_code_name(r->code), "NO_REPLY_OBSERVED");
	assert_non_null(strstr(r->message, "1 connection from"));
	/* The unreplied entry is quoted first. */
	k = hop(r, "observation")->kernel;
	semi = strchr(k, ';');
	un = strstr(k, "[UNREPLIED]");
	assert_non_null(semi);
	assert_non_null(un);
	assert_true(un < semi);

	fk.nct = 0;
	flow_at(IPPROTO_ICMP, 8 << 8, false, 12); /* before the fix */
	flow_at(IPPROTO_ICMP, 8 << 8, true, 29);  /* after it */
	r = ask(f, "192.168.150.2", "192.168.100.2", "icmp", 0);
	assert_true(r->reachable);
	assert_non_null(
	    strstr(hop(r, "observation")->detail, "latest tracked connection saw replies"));
}

static void test_no_return_route(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	/* Coming in by eth1, 192.168.150.0/24 finds nothing (a policy rule refuses it). */
	rget("192.168.150.0/24", 3, RTN_UNREACHABLE, 0, "", RTPROT_BOOT);
	r = ask(f, "192.168.150.2", "192.168.100.2", "udp", 53);
	assert_string_equal(diag_code_name(r->code), "NO_RETURN_ROUTE");
	assert_int_equal(hop(r, "return_path")->verdict, DIAG_FAIL);
	assert_string_equal(r->object_id, "");
	assert_string_equal(field(&r->fix, "destination")->s, "192.168.150.2/32");
}

static void test_first_failure_blocks(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	fk.fwd4 = false;
	group(f, "sg-e1", "web", "192.168.100.2");
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 80);
	assert_string_equal(diag_code_name(r->code), "FORWARDING_DISABLED");
	assert_int_equal(hop(r, "security_group_ingress")->verdict, DIAG_FAIL);
}

static void test_missing_ops_unknown(void **state)
{
	struct fx *f = *state;
	const struct diag_result *r;

	f->k.route_get = NULL;
	f->k.ct_find = NULL;
	f->k.nft_counters = NULL;
	r = ask(f, "192.168.150.2", "192.168.100.2", "tcp", 80);
	assert_true(r->reachable);
	assert_int_equal(hop(r, "route")->verdict, DIAG_UNKNOWN);
	assert_int_equal(hop(r, "return_path")->verdict, DIAG_UNKNOWN);
	assert_int_equal(hop(r, "observation")->verdict, DIAG_UNKNOWN);
}

static void bad(const char *src, const char *dst, const char *proto, bool has_port, int64_t port,
                const char *field_name, const char *needle)
{
	struct diag_request q = {0};
	struct vr_err e = {0};

	snprintf(q.source, sizeof(q.source), "%s", src);
	snprintf(q.destination, sizeof(q.destination), "%s", dst);
	snprintf(q.protocol, sizeof(q.protocol), "%s", proto);
	q.has_port = has_port;
	q.port_in = port;
	assert_int_not_equal(diag_request_validate(&q, &e), 0);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, field_name);
	if (!strstr(e.msg, needle))
		fail_msg("\"%s\" lacks \"%s\"", e.msg, needle);
}

static void test_validate(void **state)
{
	struct diag_request q = {0};
	struct vr_err e = {0};

	(void)state;
	bad("192.168.150.300", "10.0.0.1", "tcp", true, 80, "source", "192.168.150.300");
	bad("10.0.0.1", "10.0.0.0/24", "tcp", true, 80, "destination", "10.0.0.0/24");
	bad("", "10.0.0.1", "tcp", true, 80, "source", "required");
	bad("10.0.0.1", "fd00::1", "tcp", true, 80, "destination", "different families");
	bad("10.0.0.1", "10.0.0.2", "sctp", true, 80, "protocol", "sctp");
	bad("10.0.0.1", "10.0.0.2", "all", false, 0, "protocol", "all");
	bad("10.0.0.1", "10.0.0.2", "tcp", true, 0, "port", "port 0 is out of range 1..65535");
	bad("10.0.0.1", "10.0.0.2", "udp", true, 65536, "port", "65536");
	bad("10.0.0.1", "10.0.0.2", "tcp", false, 0, "port", "required");
	bad("10.0.0.1", "10.0.0.2", "icmp", true, 7, "port", "port 7 given with protocol icmp");
	bad("fd00::1", "fd00::2", "icmp", false, 0, "protocol", "does not carry IPv6");
	bad("10.0.0.1", "10.0.0.2", "icmpv6", false, 0, "protocol", "does not carry IPv4");

	snprintf(q.source, sizeof(q.source), "fd00:150::2");
	snprintf(q.destination, sizeof(q.destination), "fd00:100::2");
	snprintf(q.protocol, sizeof(q.protocol), "icmpv6");
	assert_int_equal(diag_request_validate(&q, &e), 0);
	assert_int_equal(q.proto, SG_PROTO_ICMPV6);
	assert_int_equal(q.port, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_working_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forwarding_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_this_host_needs_no_forwarding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blackhole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_and_prohibit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_route, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_not_applied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_associated_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sg_ingress_then_suggestion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sg_egress_and_remote, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_group_guards_only_this_host, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_reply_observed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_latest_flow_decides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_return_route, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_failure_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_ops_unknown, setup, teardown),
	    cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
