/*
 * Policy rules over the netlink transport: the ones we own (FRA_PROTOCOL
 * VR_RTPROT) and, for the tables in use, all of them. Requests are built
 * with libnl's nlmsg/nla calls: libnl 3.7 has no setter for FRA_PROTOCOL,
 * and that attribute is how we mark what we own.
 */
#include "nl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/version.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "log.h"

/* An attribute newer than some installed headers (value from the kernel's uapi). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(4, 17, 0)
#define FRA_PROTOCOL 21 /* u8, who created the rule; kernel >= 4.17 */
#endif
#define NLRU_FRA_MAX (FRA_MAX > FRA_PROTOCOL ? FRA_MAX : FRA_PROTOCOL)

/* One rule request: header, fib_rule_hdr, four small attributes. */
#define NLRU_MSG_MAX 256
#define NLRU_RULES_MAX (256u * 1024)

static const int inet[] = {AF_INET, AF_INET6};

struct rule_info {
	struct krule r;
	uint8_t proto;  /* FRA_PROTOCOL, 0 when absent */
	uint8_t action; /* FR_ACT_* */
};

static bool parse_rule(const struct nlmsghdr *h, struct rule_info *out)
{
	struct nlattr *tb[NLRU_FRA_MAX + 1];
	const struct fib_rule_hdr *frh;
	size_t alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*frh)))
		return false;
	frh = nl_data(h);
	alen = cidr_addr_len(frh->family);
	if (!alen || frh->src_len > alen * 8)
		return false;
	if (nl_xport_parse(h, sizeof(*frh), tb, NLRU_FRA_MAX) < 0)
		return false;
	memset(out, 0, sizeof(*out));
	out->action = frh->action;
	out->r.action = frh->action == FR_ACT_UNREACHABLE ? KRULE_UNREACHABLE : KRULE_LOOKUP;
	out->proto = tb[FRA_PROTOCOL] ? nla_get_u8(tb[FRA_PROTOCOL]) : 0;
	out->r.family = frh->family;
	out->r.table = tb[FRA_TABLE] ? nla_get_u32(tb[FRA_TABLE]) : frh->table;
	out->r.priority = tb[FRA_PRIORITY] ? nla_get_u32(tb[FRA_PRIORITY]) : 0;
	out->r.src.addr.family = frh->family;
	out->r.src.len = frh->src_len;
	if (frh->src_len && tb[FRA_SRC] && (size_t)nla_len(tb[FRA_SRC]) >= alen)
		memcpy(out->r.src.addr.a, nla_data(tb[FRA_SRC]), alen);
	return true;
}

struct rule_acc {
	struct rule_info *v;
	size_t n, cap;
	bool owned_only;
};

static int rule_cb(struct nlmsghdr *h, void *arg)
{
	struct rule_acc *acc = arg;
	struct rule_info ri;
	int err;

	if (h->nlmsg_type != RTM_NEWRULE || !parse_rule(h, &ri))
		return 0;
	/*
	 * A rule dump cannot be filtered in the kernel. Ours look up a table
	 * or refuse (unreachable); one of our protocol that does something
	 * else was not made by us and is left alone.
	 */
	if (acc->owned_only && (ri.proto != VR_RTPROT ||
	                        (ri.action != FR_ACT_TO_TBL && ri.action != FR_ACT_UNREACHABLE)))
		return 0;
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLRU_RULES_MAX,
	                    "rules");
	if (err)
		return err;
	acc->v[acc->n++] = ri;
	return 0;
}

static int dump_rules(struct nl_xport *x, struct rule_acc *acc)
{
	const struct fib_rule_hdr frh = {.family = AF_UNSPEC};
	const struct nl_xport_dump d = {
	    .type = RTM_GETRULE,
	    .hdr = &frh,
	    .hlen = sizeof(frh),
	    .families = inet,
	    .nfamilies = 2,
	    .what = "rule",
	    .cb = rule_cb,
	    .arg = acc,
	    .count = &acc->n,
	};

	return nl_xport_dump(x, &d);
}

/* The rules, ours alone with owned_only; *out is malloc'd even when there are none. */
static int get_rules(struct nl_xport *x, bool owned_only, struct krule **out, size_t *nout)
{
	struct rule_acc acc = {.owned_only = owned_only};
	struct krule *v = NULL;
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_rules(x, &acc);
	if (err)
		goto out;
	v = malloc((acc.n ? acc.n : 1) * sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < acc.n; i++)
		v[i] = acc.v[i].r;
	*out = v;
	*nout = acc.n;
out:
	free(acc.v);
	return err;
}

int nl_rule_dump(struct nl_xport *x, struct krule **out, size_t *nout)
{
	return get_rules(x, true, out, nout);
}

int nl_rule_tables(struct nl_xport *x, uint32_t **out, size_t *nout)
{
	struct krule *rules = NULL;
	size_t nrules = 0, n = 0;
	uint32_t *v;
	int err;

	*out = NULL;
	*nout = 0;
	err = get_rules(x, false, &rules, &nrules);
	if (err)
		return err;
	v = malloc((nrules ? nrules : 1) * sizeof(*v));
	if (v) {
		for (size_t i = 0; i < nrules; i++)
			if (rules[i].table != RT_TABLE_UNSPEC)
				v[n++] = rules[i].table;
		*out = v;
		*nout = n;
	}
	free(rules);
	return v ? 0 : -ENOMEM;
}

static int rule_msg(const void *arg, size_t i, uint32_t seq, struct nl_msg **out)
{
	const struct krule_op *op = (const struct krule_op *)arg + i;
	const struct krule *r = &op->r;
	size_t alen = cidr_addr_len(r->family);
	struct fib_rule_hdr frh;
	struct nl_msg *msg = NULL;
	int type = RTM_DELRULE, flags = NLM_F_REQUEST | NLM_F_ACK;

	if (op->kind == KOP_REPLACE)
		return -EOPNOTSUPP;
	/* A lookup names its table; an unreachable rule has none. */
	if (!alen || r->src.len > alen * 8 || (r->src.len && r->src.addr.family != r->family) ||
	    (r->action == KRULE_LOOKUP) != (r->table != RT_TABLE_UNSPEC) ||
	    (r->action != KRULE_LOOKUP && r->action != KRULE_UNREACHABLE))
		return -EINVAL;
	if (op->kind == KOP_ADD) {
		if (r->priority < VR_RULE_PRIO_FIRST || r->priority > VR_RULE_PRIO_LAST)
			return -ERANGE;
		type = RTM_NEWRULE;
		flags |= NLM_F_CREATE | NLM_F_EXCL;
	}
	memset(&frh, 0, sizeof(frh));
	frh.family = (uint8_t)r->family;
	frh.src_len = r->src.len;
	frh.table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	frh.action = r->action == KRULE_UNREACHABLE ? FR_ACT_UNREACHABLE : FR_ACT_TO_TBL;

	/*
	 * A delete names every field, the protocol included: the kernel then
	 * matches only our rule with exactly this key, never a foreign twin.
	 * The priority attribute is always sent, so it is matched even if 0.
	 */
	msg = nlmsg_alloc_size(NLRU_MSG_MAX);
	if (!msg || !nlmsg_put(msg, 0, seq, type, 0, flags) ||
	    nlmsg_append(msg, &frh, sizeof(frh), NLMSG_ALIGNTO) < 0 ||
	    (r->src.len && nla_put(msg, FRA_SRC, (int)alen, r->src.addr.a) < 0) ||
	    (r->table && nla_put_u32(msg, FRA_TABLE, r->table) < 0) ||
	    nla_put_u32(msg, FRA_PRIORITY, r->priority) < 0 ||
	    nla_put_u8(msg, FRA_PROTOCOL, VR_RTPROT) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	*out = msg;
	return 0;
}

/* "from 10.0.0.0/24 lookup 100", "from all unreachable", as ip rule says it. */
static void rule_words(const struct krule *r, char *buf, size_t len)
{
	char src[CIDR_STR_MAX] = "all";

	if (r->src.len)
		cidr_format_prefix(&r->src, src, sizeof(src));
	if (r->action == KRULE_UNREACHABLE)
		snprintf(buf, len, "from %s unreachable", src);
	else
		snprintf(buf, len, "from %s lookup %u", src, r->table);
}

static void rule_failed(const void *arg, size_t i, int err, const char *text)
{
	const struct krule_op *op = (const struct krule_op *)arg + i;
	char what[CIDR_STR_MAX + 32];

	rule_words(&op->r, what, sizeof(what));
	log_debug("netlink: rule %s priority %u: %s%s%s", what, op->r.priority, strerror(-err),
	          *text ? ": " : "", text);
}

void nl_rule_batch(struct nl_xport_batch *b, const struct krule_op *ops, size_t n, int *res)
{
	*b = (struct nl_xport_batch){
	    .n = n, .build = rule_msg, .failed = rule_failed, .arg = ops, .res = res};
}

bool nl_rule_event(const struct nlmsghdr *h, uint32_t port, bool *resync)
{
	struct rule_info ri;

	if (h->nlmsg_type != RTM_NEWRULE && h->nlmsg_type != RTM_DELRULE)
		return false;
	/* Foreign rules (and ipmr's, which share the group) cannot disturb ours. */
	*resync = parse_rule(h, &ri) && ri.proto == VR_RTPROT && h->nlmsg_pid != port;
	return true;
}

void kernel_rule_reason(const struct krule *r, int err, char *buf, size_t len)
{
	char what[CIDR_STR_MAX + 32];
	const char *why;

	if (err < 0)
		err = -err;
	why = strerror(err);
	rule_words(r, what, sizeof(what));

	switch (err) {
	case EEXIST:
		snprintf(buf, len, "a rule %s at priority %u already exists (%s)", what,
		         r->priority, why);
		break;
	case ERANGE:
		snprintf(buf, len, "priority %u is outside vrouter's range %u-%u (%s)", r->priority,
		         VR_RULE_PRIO_FIRST, VR_RULE_PRIO_LAST, why);
		break;
	case ENOENT:
	case ESRCH: snprintf(buf, len, "the rule %s is not in the kernel (%s)", what, why); break;
	case EAFNOSUPPORT:
		snprintf(buf, len, "this kernel has no policy routing for the family (%s)", why);
		break;
	case EOPNOTSUPP:
		snprintf(buf, len, "a rule is added or removed, never replaced (%s)", why);
		break;
	case EINVAL:
		snprintf(buf, len, "the kernel refused the rule %s as invalid (%s)", what, why);
		break;
	case EPERM:
	case EACCES:
		snprintf(buf, len,
		         "not permitted to change policy rules: vrouterd needs CAP_NET_ADMIN (%s)",
		         why);
		break;
	default:
		if (!nl_xport_reason(err, buf, len))
			snprintf(buf, len, "the kernel refused the rule %s (%s)", what, why);
		break;
	}
}
