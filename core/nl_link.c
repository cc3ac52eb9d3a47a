/*
 * The kernel adapter for addresses, policy rules, IP forwarding and the list
 * of links: the other half of nl_route.c, sharing its sockets, its batch
 * engine (requests with NLM_F_ACK, acks matched by sequence number) and its
 * dump loop through nl_internal.h. Requests are built with libnl's nlmsg/nla
 * calls: libnl 3.7 has no setter for IFA_PROTO or FRA_PROTOCOL, and those
 * attributes are how we mark what we own.
 */
#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netconf.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/version.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "log.h"
#include "nl_internal.h"

/* Attributes newer than some installed headers (values from the kernel's uapi). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#define IFA_PROTO 11 /* u8, who created the address; kernel >= 5.18 */
#endif
#if LINUX_VERSION_CODE < KERNEL_VERSION(4, 17, 0)
#define FRA_PROTOCOL 21 /* u8, who created the rule; kernel >= 4.17 */
#endif
#define NLL_IFA_MAX (IFA_MAX > IFA_PROTO ? IFA_MAX : IFA_PROTO)
#define NLL_FRA_MAX (FRA_MAX > FRA_PROTOCOL ? FRA_MAX : FRA_PROTOCOL)
/* From linux/if.h, which cannot be included beside net/if.h. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#define NLL_IF_OPER_UP 6

/* One address or rule request: header, ifaddrmsg/fib_rule_hdr, four small attributes. */
#define NLL_MSG_MAX 256
#define NLL_DUMP_TRIES 5
#define NLL_ADDRS_MAX (1024u * 1024)
#define NLL_RULES_MAX (256u * 1024)
#define NLL_LINKS_MAX (256u * 1024)
#define NLL_TABLES_MAX (1024u * 1024)
/* A sysctl value as text: "0\n", "1\n". */
#define NLL_SYSCTL_MAX 32
#define NLL_PATH_MAX 128

static const char *const fwd_path[2] = {
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
};

/* Make room for one more element in *v (n used of *cap), at most max elements. */
static int grow(void **v, size_t *cap, size_t n, size_t size, size_t max, const char *what)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	if (n >= max) {
		log_warnx("netlink: more than %zu %s, dump refused", max, what);
		return -E2BIG;
	}
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > max)
		ncap = max;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int cmp_int(long long a, long long b)
{
	return (a > b) - (a < b);
}

static int kaddr_cmp(const struct kaddr *a, const struct kaddr *b)
{
	int c = cmp_int(a->ifindex, b->ifindex);

	if (!c)
		c = cmp_int(a->p.addr.family, b->p.addr.family);
	if (!c)
		c = cmp_int(a->p.len, b->p.len);
	if (!c)
		c = memcmp(a->p.addr.a, b->p.addr.a, nlr_addr_len(a->p.addr.family));
	return c;
}

static int kaddr_qcmp(const void *a, const void *b)
{
	return kaddr_cmp(a, b);
}

/* ---- addresses ---- */

struct addr_info {
	struct kaddr a;
	uint8_t proto;  /* IFA_PROTO, 0 when absent */
	uint32_t flags; /* IFA_F_* */
};

static bool parse_addr(const struct nlmsghdr *h, struct addr_info *out)
{
	struct nlattr *tb[NLL_IFA_MAX + 1];
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	size_t alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return false;
	ifa = NLMSG_DATA(h);
	alen = nlr_addr_len(ifa->ifa_family);
	if (!alen || ifa->ifa_prefixlen > alen * 8)
		return false;
	if (nlmsg_parse((struct nlmsghdr *)h, sizeof(*ifa), tb, NLL_IFA_MAX, NULL) < 0)
		return false;
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer on a point-to-point link. */
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!at || (size_t)nla_len(at) < alen)
		return false;
	memset(out, 0, sizeof(*out));
	out->a.ifindex = (int)ifa->ifa_index;
	out->a.p.addr.family = ifa->ifa_family;
	out->a.p.len = ifa->ifa_prefixlen;
	memcpy(out->a.p.addr.a, nla_data(at), alen);
	out->proto = tb[IFA_PROTO] ? nla_get_u8(tb[IFA_PROTO]) : 0;
	out->flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	return true;
}

struct addr_acc {
	struct addr_info *v;
	size_t n, cap;
	bool owned_only;
};

static int addr_cb(struct nlmsghdr *h, void *arg)
{
	struct addr_acc *acc = arg;
	struct addr_info ai;
	int err;

	if (h->nlmsg_type != RTM_NEWADDR || !parse_addr(h, &ai))
		return 0;
	/* The kernel cannot filter an address dump by protocol: we do. */
	if (acc->owned_only && ai.proto != VR_RTPROT)
		return 0;
	err =
	    grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLL_ADDRS_MAX, "addresses");
	if (err)
		return err;
	acc->v[acc->n++] = ai;
	return 0;
}

/* The addresses of family (AF_UNSPEC: both) into acc, read again while torn. */
static int dump_addrs(struct nlr *k, int family, struct addr_acc *acc)
{
	static const int fams[] = {AF_INET, AF_INET6};

	for (int tries = 0; tries < NLL_DUMP_TRIES; tries++) {
		bool intr = false;

		acc->n = 0;
		for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
			struct {
				struct nlmsghdr h;
				struct ifaddrmsg a;
			} req;
			int err;

			if (family != AF_UNSPEC && family != fams[f])
				continue;
			memset(&req, 0, sizeof(req));
			req.h.nlmsg_len = sizeof(req);
			req.h.nlmsg_type = RTM_GETADDR;
			req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
			req.a.ifa_family = (uint8_t)fams[f];
			err = nlr_dump(k, &req.h, "address", addr_cb, acc, &intr);
			if (err)
				return err;
		}
		if (!intr)
			return 0;
		log_debug("netlink: address dump interrupted, retrying");
	}
	log_warnx("netlink: the address dump kept changing under us (%d tries)", NLL_DUMP_TRIES);
	return -EAGAIN;
}

static void owned_forget(struct nlr *k)
{
	free(k->owned);
	k->owned = NULL;
	k->nowned = 0;
	k->owned_known = false;
}

static bool owned_holds(const struct nlr *k, const struct kaddr *a)
{
	return k->owned_known &&
	       bsearch(a, k->owned, k->nowned, sizeof(*k->owned), kaddr_qcmp) != NULL;
}

static int nll_addr_dump(void *ctx, struct kaddr **out, size_t *nout)
{
	struct nlr *k = ctx;
	struct addr_acc acc = {.owned_only = true};
	struct kaddr *v = NULL, *set = NULL;
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_addrs(k, AF_UNSPEC, &acc);
	if (err)
		goto out;
	v = malloc((acc.n ? acc.n : 1) * sizeof(*v));
	set = malloc((acc.n ? acc.n : 1) * sizeof(*set));
	if (!v || !set) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < acc.n; i++)
		v[i] = acc.v[i].a;
	memcpy(set, v, acc.n * sizeof(*v));
	qsort(set, acc.n, sizeof(*set), kaddr_qcmp);
	free(k->owned);
	k->owned = set;
	k->nowned = acc.n;
	k->owned_known = true;
	set = NULL;
	*out = v;
	*nout = acc.n;
	v = NULL;
out:
	free(acc.v);
	free(v);
	free(set);
	return err;
}

static int addr_msg(void *arg, size_t i, uint32_t seq, struct nl_msg **out)
{
	const struct kaddr_op *op = (const struct kaddr_op *)arg + i;
	const struct kaddr *a = &op->a;
	size_t alen = nlr_addr_len(a->p.addr.family);
	struct ifaddrmsg ifa;
	struct nl_msg *msg = NULL;
	int type = RTM_DELADDR, flags = NLM_F_REQUEST | NLM_F_ACK;
	uint32_t ifa_flags = 0;

	if (op->kind == KOP_REPLACE)
		return -EOPNOTSUPP;
	if (!alen || a->p.len > alen * 8)
		return -EINVAL;
	if (a->ifindex <= 0)
		return -ENODEV;
	if (op->kind == KOP_ADD) {
		type = RTM_NEWADDR;
		flags |= NLM_F_CREATE | NLM_F_EXCL;
		/* Usable at once: no tentative state, no DAD to fail. */
		if (a->p.addr.family == AF_INET6)
			ifa_flags = IFA_F_NODAD;
	}
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = (uint8_t)a->p.addr.family;
	ifa.ifa_prefixlen = a->p.len;
	ifa.ifa_flags = (uint8_t)ifa_flags;
	ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	ifa.ifa_index = (uint32_t)a->ifindex;

	msg = nlmsg_alloc_size(NLL_MSG_MAX);
	if (!msg || !nlmsg_put(msg, 0, seq, type, 0, flags) ||
	    nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, IFA_LOCAL, (int)alen, a->p.addr.a) < 0 ||
	    nla_put(msg, IFA_ADDRESS, (int)alen, a->p.addr.a) < 0)
		goto nomem;
	/* The mark that makes it ours, after a restart too. A delete needs none. */
	if (op->kind == KOP_ADD && nla_put_u8(msg, IFA_PROTO, VR_RTPROT) < 0)
		goto nomem;
	if (ifa_flags && nla_put_u32(msg, IFA_FLAGS, ifa_flags) < 0)
		goto nomem;
	*out = msg;
	return 0;
nomem:
	nlmsg_free(msg);
	return -ENOMEM;
}

static void addr_failed(void *arg, size_t i, int err, const char *text)
{
	const struct kaddr_op *op = (const struct kaddr_op *)arg + i;
	char p[CIDR_STR_MAX];

	cidr_format_prefix(&op->a.p, p, sizeof(p));
	log_debug("netlink: address %s on link %d: %s%s%s", p, op->a.ifindex, strerror(-err),
	          *text ? ": " : "", text);
}

/* Key for "same link, same subnet": link, family, prefix length, masked prefix. */
static int subnet_cmp(const struct kaddr *a, const struct kaddr *b)
{
	struct prefix ma = a->p, mb = b->p;
	int c = cmp_int(a->ifindex, b->ifindex);

	if (!c)
		c = cmp_int(a->p.addr.family, b->p.addr.family);
	if (!c)
		c = cmp_int(a->p.len, b->p.len);
	if (c)
		return c;
	cidr_mask(&ma);
	cidr_mask(&mb);
	return memcmp(ma.addr.a, mb.addr.a, nlr_addr_len(a->p.addr.family));
}

static int ai_qcmp_subnet(const void *pa, const void *pb)
{
	const struct addr_info *a = pa, *b = pb;

	return subnet_cmp(&a->a, &b->a);
}

/* Turn on net.ipv4.conf.<link>.promote_secondaries unless it is on. */
static void promote_secondaries(int ifindex, const struct kaddr *why)
{
	char name[IF_NAMESIZE], path[NLL_PATH_MAX], p[CIDR_STR_MAX], cur = '0';
	int fd;

	if (!if_indextoname((unsigned)ifindex, name))
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/promote_secondaries", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_warn("cannot open %s", path);
		return;
	}
	if (read(fd, &cur, 1) == 1 && cur != '0')
		goto out;
	cidr_format_prefix(&why->p, p, sizeof(p));
	log_info("removing %s from %s: turning on promote_secondaries there so the other "
	         "addresses of its subnet stay",
	         p, name);
	if (pwrite(fd, "1\n", 2, 0) != 2)
		log_warn("cannot write %s", path);
out:
	close(fd);
}

/*
 * Removing an IPv4 primary address removes the secondaries of its subnet
 * with it, unless promote_secondaries is on for the link (it is off by
 * default, and a new namespace inherits the root's). A foreign secondary
 * must survive our delete, so turn it on where one of ours is in the way.
 */
static void keep_secondaries(struct nlr *k, const struct kaddr_op *ops, size_t n)
{
	struct addr_acc acc = {0};
	bool any = false;

	for (size_t i = 0; i < n && !any; i++)
		any = ops[i].kind == KOP_DELETE && ops[i].a.p.addr.family == AF_INET;
	if (!any || dump_addrs(k, AF_INET, &acc))
		goto out;
	qsort(acc.v, acc.n, sizeof(*acc.v), ai_qcmp_subnet);
	for (size_t i = 0; i < n; i++) {
		const struct kaddr *del = &ops[i].a;
		bool primary = false, secondary = false;
		size_t lo = 0, hi = acc.n;

		if (ops[i].kind != KOP_DELETE || del->p.addr.family != AF_INET)
			continue;
		/* First address of the same link and subnet. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (subnet_cmp(&acc.v[mid].a, del) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < acc.n && subnet_cmp(&acc.v[j].a, del) == 0; j++) {
			if (acc.v[j].flags & IFA_F_SECONDARY)
				secondary = true;
			else if (kaddr_cmp(&acc.v[j].a, del) == 0)
				primary = true;
		}
		if (primary && secondary)
			promote_secondaries(del->ifindex, del);
	}
out:
	free(acc.v);
}

struct owned_change {
	struct kaddr a;
	size_t i;
	bool present;
};

static int change_qcmp(const void *pa, const void *pb)
{
	const struct owned_change *a = pa, *b = pb;
	int c = kaddr_cmp(&a->a, &b->a);

	return c ? c : cmp_int((long long)a->i, (long long)b->i);
}

/*
 * Bring the owned set up to date with the ops that took effect: per address
 * the last successful op wins. Merges two sorted lists.
 */
static void owned_update(struct nlr *k, const struct kaddr_op *ops, size_t n, const int *res)
{
	struct owned_change *ch = NULL;
	struct kaddr *set = NULL;
	size_t nch = 0, nset = 0, i = 0, j = 0;

	if (!k->owned_known)
		return;
	ch = malloc((n ? n : 1) * sizeof(*ch));
	if (!ch)
		goto fail;
	for (size_t x = 0; x < n; x++) {
		bool gone = ops[x].kind == KOP_DELETE && (res[x] == 0 || res[x] == -EADDRNOTAVAIL);

		if ((ops[x].kind == KOP_ADD && res[x] == 0) || gone) {
			ch[nch].a = ops[x].a;
			ch[nch].i = x;
			ch[nch].present = ops[x].kind == KOP_ADD;
			nch++;
		}
	}
	if (!nch)
		goto out;
	qsort(ch, nch, sizeof(*ch), change_qcmp);
	set = malloc((k->nowned + nch) * sizeof(*set));
	if (!set)
		goto fail;
	while (i < k->nowned || j < nch) {
		int c;

		/* Only the last change of a run of equal addresses counts. */
		if (j < nch && j + 1 < nch && kaddr_cmp(&ch[j].a, &ch[j + 1].a) == 0) {
			j++;
			continue;
		}
		if (i == k->nowned)
			c = 1;
		else if (j == nch)
			c = -1;
		else
			c = kaddr_cmp(&k->owned[i], &ch[j].a);
		if (c < 0) {
			set[nset++] = k->owned[i++];
			continue;
		}
		if (c == 0)
			i++;
		if (ch[j].present)
			set[nset++] = ch[j].a;
		j++;
	}
	free(k->owned);
	k->owned = set;
	k->nowned = nset;
	set = NULL;
	goto out;
fail:
	/* Not knowing is safe: every owned-address event then asks for a resync. */
	owned_forget(k);
out:
	free(set);
	free(ch);
}

static int nll_addr_apply(void *ctx, const struct kaddr_op *ops, size_t n, int *res)
{
	struct nlr *k = ctx;
	int err;

	keep_secondaries(k, ops, n);
	/* The callbacks only read the ops. */
	err = nlr_batch(k, n, addr_msg, addr_failed, (void *)ops, res);
	owned_update(k, ops, n, res);
	return err;
}

/* ---- policy rules ---- */

struct rule_info {
	struct krule r;
	uint8_t proto;  /* FRA_PROTOCOL, 0 when absent */
	uint8_t action; /* FR_ACT_* */
};

static bool parse_rule(const struct nlmsghdr *h, struct rule_info *out)
{
	struct nlattr *tb[NLL_FRA_MAX + 1];
	const struct fib_rule_hdr *frh;
	size_t alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*frh)))
		return false;
	frh = NLMSG_DATA(h);
	alen = nlr_addr_len(frh->family);
	if (!alen || frh->src_len > alen * 8)
		return false;
	if (nlmsg_parse((struct nlmsghdr *)h, sizeof(*frh), tb, NLL_FRA_MAX, NULL) < 0)
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
	err = grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLL_RULES_MAX, "rules");
	if (err)
		return err;
	acc->v[acc->n++] = ri;
	return 0;
}

static int dump_rules(struct nlr *k, struct rule_acc *acc)
{
	static const int fams[] = {AF_INET, AF_INET6};

	for (int tries = 0; tries < NLL_DUMP_TRIES; tries++) {
		bool intr = false;

		acc->n = 0;
		for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
			struct {
				struct nlmsghdr h;
				struct fib_rule_hdr r;
			} req;
			int err;

			memset(&req, 0, sizeof(req));
			req.h.nlmsg_len = sizeof(req);
			req.h.nlmsg_type = RTM_GETRULE;
			req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
			req.r.family = (uint8_t)fams[f];
			err = nlr_dump(k, &req.h, "rule", rule_cb, acc, &intr);
			if (err)
				return err;
		}
		if (!intr)
			return 0;
		log_debug("netlink: rule dump interrupted, retrying");
	}
	log_warnx("netlink: the rule dump kept changing under us (%d tries)", NLL_DUMP_TRIES);
	return -EAGAIN;
}

static int nll_rule_dump(void *ctx, struct krule **out, size_t *nout)
{
	struct rule_acc acc = {.owned_only = true};
	struct krule *v = NULL;
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_rules(ctx, &acc);
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

static int rule_msg(void *arg, size_t i, uint32_t seq, struct nl_msg **out)
{
	const struct krule_op *op = (const struct krule_op *)arg + i;
	const struct krule *r = &op->r;
	size_t alen = nlr_addr_len(r->family);
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
	msg = nlmsg_alloc_size(NLL_MSG_MAX);
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

static void rule_failed(void *arg, size_t i, int err, const char *text)
{
	const struct krule_op *op = (const struct krule_op *)arg + i;
	char what[CIDR_STR_MAX + 32];

	rule_words(&op->r, what, sizeof(what));
	log_debug("netlink: rule %s priority %u: %s%s%s", what, op->r.priority, strerror(-err),
	          *text ? ": " : "", text);
}

static int nll_rule_apply(void *ctx, const struct krule_op *ops, size_t n, int *res)
{
	/* The callbacks only read the ops. */
	return nlr_batch(ctx, n, rule_msg, rule_failed, (void *)ops, res);
}

/* ---- forwarding ---- */

static int sysctl_read(const char *path, int *v)
{
	char buf[NLL_SYSCTL_MAX], *end;
	ssize_t n;
	long val;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	val = strtol(buf, &end, 10);
	if (end == buf)
		return -EINVAL;
	*v = val != 0;
	return 0;
}

static int sysctl_write(const char *path, int v)
{
	const char *s = v ? "1\n" : "0\n";
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, 2);
	if (n < 0)
		err = -errno;
	else if (n != 2)
		err = -EIO;
	close(fd);
	return err;
}

static int nll_forwarding_get(void *ctx, bool *v4, bool *v6)
{
	struct nlr *k = ctx;
	int val[2] = {0, 0}, err;

	for (int f = 0; f < 2; f++) {
		err = sysctl_read(fwd_path[f], &val[f]);
		/* A kernel without IPv6 forwards no IPv6. */
		if (err == -ENOENT && f == 1) {
			val[f] = 0;
			err = 0;
		}
		if (err) {
			errno = -err;
			log_warn("reading %s", fwd_path[f]);
			return err;
		}
		k->fwd_known[f] = val[f];
	}
	*v4 = val[0];
	*v6 = val[1];
	return 0;
}

static int nll_forwarding_set(void *ctx, bool v4, bool v6)
{
	struct nlr *k = ctx;
	const int want[2] = {v4, v6};

	for (int f = 0; f < 2; f++) {
		int cur, err = sysctl_read(fwd_path[f], &cur);

		if (err == -ENOENT && f == 1)
			return want[f] ? -EAFNOSUPPORT : 0;
		/*
		 * Remember the value before writing it, so the notification
		 * that the write causes is known as ours.
		 */
		if (!err && cur != want[f]) {
			k->fwd_known[f] = want[f];
			err = sysctl_write(fwd_path[f], want[f]);
		}
		if (err) {
			k->fwd_known[f] = -1;
			errno = -err;
			log_warn("setting %s to %d", fwd_path[f], want[f]);
			return err;
		}
		k->fwd_known[f] = want[f];
	}
	return 0;
}

/* ---- links ---- */

struct link_acc {
	struct klink *v;
	size_t n, cap;
};

static int link_cb(struct nlmsghdr *h, void *arg)
{
	struct link_acc *acc = arg;
	struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi;
	struct klink *l;
	int err;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	ifi = NLMSG_DATA(h);
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return 0;
	err = grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLL_LINKS_MAX, "links");
	if (err)
		return err;
	l = &acc->v[acc->n++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->lower_up = (ifi->ifi_flags & IFF_LOWER_UP) ||
	              (tb[IFLA_OPERSTATE] && nla_get_u8(tb[IFLA_OPERSTATE]) == NLL_IF_OPER_UP);
	if (tb[IFLA_IFNAME])
		nla_strlcpy(l->name, tb[IFLA_IFNAME], sizeof(l->name));
	if (tb[IFLA_MTU])
		l->mtu = nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
		const uint8_t *m = nla_data(tb[IFLA_ADDRESS]);

		snprintf(l->mac, sizeof(l->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		         m[3], m[4], m[5]);
	}
	return 0;
}

static int dump_links(struct nlr *k, struct link_acc *acc)
{
	for (int tries = 0; tries < NLL_DUMP_TRIES; tries++) {
		struct {
			struct nlmsghdr h;
			struct ifinfomsg i;
		} req;
		bool intr = false;
		int err;

		kernel_links_free(acc->v, acc->n);
		memset(acc, 0, sizeof(*acc));
		memset(&req, 0, sizeof(req));
		req.h.nlmsg_len = sizeof(req);
		req.h.nlmsg_type = RTM_GETLINK;
		req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req.i.ifi_family = AF_UNSPEC;
		err = nlr_dump(k, &req.h, "link", link_cb, acc, &intr);
		if (err)
			return err;
		if (!intr)
			return 0;
		log_debug("netlink: link dump interrupted, retrying");
	}
	log_warnx("netlink: the link dump kept changing under us (%d tries)", NLL_DUMP_TRIES);
	return -EAGAIN;
}

static int klink_qcmp(const void *pa, const void *pb)
{
	const struct klink *a = pa, *b = pb;

	return cmp_int(a->ifindex, b->ifindex);
}

static struct klink *find_link(struct klink *v, size_t n, int ifindex)
{
	struct klink key = {.ifindex = ifindex};

	return bsearch(&key, v, n, sizeof(*v), klink_qcmp);
}

static int nll_links_list(void *ctx, struct klink **out, size_t *nout)
{
	struct link_acc links = {0};
	struct addr_acc addrs = {0};
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_links(ctx, &links);
	if (!err)
		err = dump_addrs(ctx, AF_UNSPEC, &addrs);
	if (err)
		goto out;
	qsort(links.v, links.n, sizeof(*links.v), klink_qcmp);
	/* Count, allocate, fill: addresses keep the kernel's order within a link. */
	for (size_t i = 0; i < addrs.n; i++) {
		struct klink *l = find_link(links.v, links.n, addrs.v[i].a.ifindex);

		if (l)
			l->naddrs++;
	}
	for (size_t i = 0; i < links.n; i++) {
		if (!links.v[i].naddrs)
			continue;
		links.v[i].addrs = malloc(links.v[i].naddrs * sizeof(*links.v[i].addrs));
		if (!links.v[i].addrs) {
			err = -ENOMEM;
			goto out;
		}
		links.v[i].naddrs = 0;
	}
	for (size_t i = 0; i < addrs.n; i++) {
		struct klink *l = find_link(links.v, links.n, addrs.v[i].a.ifindex);

		if (l)
			l->addrs[l->naddrs++] = addrs.v[i].a.p;
	}
	*out = links.v;
	*nout = links.n;
	links.v = NULL;
	links.n = 0;
out:
	kernel_links_free(links.v, links.n);
	free(addrs.v);
	return err;
}

void kernel_links_free(struct klink *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].addrs);
	free(v);
}

/* ---- tables in use ---- */

struct table_acc {
	uint32_t *v;
	size_t n, cap;
};

static int push_table(struct table_acc *acc, uint32_t t)
{
	int err;

	/* Dumps come table by table: skip the repeats cheaply, sort out the rest later. */
	if (acc->n && acc->v[acc->n - 1] == t)
		return 0;
	err = grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLL_TABLES_MAX,
	           "table numbers");
	if (err)
		return err;
	acc->v[acc->n++] = t;
	return 0;
}

static int table_route_cb(struct nlmsghdr *h, void *arg)
{
	struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	rtm = NLMSG_DATA(h);
	if (nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return 0;
	return push_table(arg, tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table);
}

static int u32_qcmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return (a > b) - (a < b);
}

static int nll_tables_in_use(void *ctx, uint32_t **out, size_t *nout)
{
	static const int fams[] = {AF_INET, AF_INET6};
	struct nlr *k = ctx;
	struct table_acc acc = {0};
	struct rule_acc rules = {0};
	size_t n = 0;
	int err = 0;

	*out = NULL;
	*nout = 0;
	/*
	 * A torn route dump may miss a route, but a table number is only at
	 * stake if its last route moved meanwhile; callers re-check on EEXIST.
	 */
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]) && !err; f++) {
		struct {
			struct nlmsghdr h;
			struct rtmsg r;
		} req;
		bool intr = false;

		memset(&req, 0, sizeof(req));
		req.h.nlmsg_len = sizeof(req);
		req.h.nlmsg_type = RTM_GETROUTE;
		req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req.r.rtm_family = (uint8_t)fams[f];
		err = nlr_dump(k, &req.h, "route", table_route_cb, &acc, &intr);
	}
	if (!err)
		err = dump_rules(k, &rules);
	for (size_t i = 0; !err && i < rules.n; i++)
		if (rules.v[i].r.table != RT_TABLE_UNSPEC)
			err = push_table(&acc, rules.v[i].r.table);
	if (err)
		goto out;
	qsort(acc.v, acc.n, sizeof(*acc.v), u32_qcmp);
	for (size_t i = 0; i < acc.n; i++)
		if (!n || acc.v[n - 1] != acc.v[i])
			acc.v[n++] = acc.v[i];
	*out = acc.v;
	*nout = n;
	acc.v = NULL;
out:
	free(acc.v);
	free(rules.v);
	return err;
}

/* ---- events ---- */

static bool addr_event(const struct nlr *k, const struct nlmsghdr *h)
{
	struct addr_info ai;
	bool held;

	if (!parse_addr(h, &ai))
		return true;
	/* A foreign address can make a failed route's gateway reachable, or not. */
	if (ai.proto != VR_RTPROT)
		return true;
	/* Our own request: IPv4 notifications carry the requester's port. */
	if (h->nlmsg_pid == k->req_port)
		return false;
	/*
	 * IPv6 ones carry none (and come late, after DAD), so compare with
	 * what we believe we hold: a new address we hold is our own add, a
	 * deleted one we no longer hold is our own delete.
	 */
	if (!k->owned_known)
		return true;
	held = owned_holds(k, &ai.a);
	return h->nlmsg_type == RTM_NEWADDR ? !held : held;
}

static bool rule_event(const struct nlr *k, const struct nlmsghdr *h)
{
	struct rule_info ri;

	/* Foreign rules (and ipmr's, which share the group) cannot disturb ours. */
	if (!parse_rule(h, &ri) || ri.proto != VR_RTPROT)
		return false;
	return h->nlmsg_pid != k->req_port;
}

/*
 * Only the namespace-wide value (NETCONFA_IFINDEX_ALL) is desired state. Our
 * own writes notify with the value we remembered before writing; so does
 * every link, one message each, which we ignore like any per-link setting.
 */
static bool netconf_event(const struct nlr *k, const struct nlmsghdr *h)
{
	struct nlattr *tb[NETCONFA_MAX + 1];
	const struct netconfmsg *ncm;
	int f, v;

	if (h->nlmsg_type != RTM_NEWNETCONF || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ncm)))
		return false;
	ncm = NLMSG_DATA(h);
	if (ncm->ncm_family == AF_INET)
		f = 0;
	else if (ncm->ncm_family == AF_INET6)
		f = 1;
	else
		return false;
	if (nlmsg_parse((struct nlmsghdr *)h, sizeof(*ncm), tb, NETCONFA_MAX, NULL) < 0)
		return true;
	if (!tb[NETCONFA_IFINDEX] || !tb[NETCONFA_FORWARDING] ||
	    (int32_t)nla_get_u32(tb[NETCONFA_IFINDEX]) != NETCONFA_IFINDEX_ALL)
		return false;
	v = nla_get_u32(tb[NETCONFA_FORWARDING]) != 0;
	return k->fwd_known[f] != v;
}

bool nlr_link_event(const struct nlr *k, const struct nlmsghdr *h, bool *relevant)
{
	switch (h->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR: *relevant = addr_event(k, h); return true;
	case RTM_NEWRULE:
	case RTM_DELRULE: *relevant = rule_event(k, h); return true;
	case RTM_NEWNETCONF:
	case RTM_DELNETCONF: *relevant = netconf_event(k, h); return true;
	default: return false;
	}
}

void nlr_link_ops(struct kernel_ops *out)
{
	out->addr_dump = nll_addr_dump;
	out->addr_apply = nll_addr_apply;
	out->rule_dump = nll_rule_dump;
	out->rule_apply = nll_rule_apply;
	out->forwarding_get = nll_forwarding_get;
	out->forwarding_set = nll_forwarding_set;
	out->links_list = nll_links_list;
	out->tables_in_use = nll_tables_in_use;
}

void nlr_link_free(struct nlr *k)
{
	owned_forget(k);
}

/* ---- reasons ---- */

static void link_name(int ifindex, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (ifindex > 0 && if_indextoname((unsigned)ifindex, name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "the link with index %d", ifindex);
}

void kernel_addr_reason(const struct kaddr *a, int err, char *buf, size_t len)
{
	char p[CIDR_STR_MAX], dev[IF_NAMESIZE + 32];
	const char *why;

	if (err < 0)
		err = -err;
	why = strerror(err);
	cidr_format_prefix(&a->p, p, sizeof(p));
	link_name(a->ifindex, dev, sizeof(dev));

	switch (err) {
	case EEXIST:
		snprintf(buf, len, "%s already holds %s, and vrouter did not put it there (%s)",
		         dev, p, why);
		break;
	case ENODEV: snprintf(buf, len, "%s does not exist (%s)", dev, why); break;
	case EADDRNOTAVAIL: snprintf(buf, len, "%s is not on %s (%s)", p, dev, why); break;
	case EACCES:
		if (a->p.addr.family == AF_INET6)
			snprintf(buf, len,
			         "IPv6 is disabled on %s (net.ipv6.conf.%s.disable_ipv6) (%s)", dev,
			         dev, why);
		else
			snprintf(buf, len,
			         "not permitted to change addresses: vrouterd needs CAP_NET_ADMIN "
			         "(%s)",
			         why);
		break;
	case EPERM:
		snprintf(buf, len,
		         "not permitted to change addresses: vrouterd needs CAP_NET_ADMIN (%s)",
		         why);
		break;
	case EOPNOTSUPP:
		snprintf(buf, len, "an address is added or removed, never replaced (%s)", why);
		break;
	case EINVAL:
		snprintf(buf, len, "the kernel refused %s on %s as invalid (%s)", p, dev, why);
		break;
	case ENOBUFS:
		snprintf(buf, len, "the kernel's answer was lost; will retry (%s)", why);
		break;
	case ENOMEM: snprintf(buf, len, "out of memory (%s)", why); break;
	case ETIMEDOUT: snprintf(buf, len, "the kernel did not answer (%s)", why); break;
	default: snprintf(buf, len, "the kernel refused %s on %s (%s)", p, dev, why); break;
	}
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
	case ENOBUFS:
		snprintf(buf, len, "the kernel's answer was lost; will retry (%s)", why);
		break;
	case ENOMEM: snprintf(buf, len, "out of memory (%s)", why); break;
	case ETIMEDOUT: snprintf(buf, len, "the kernel did not answer (%s)", why); break;
	default: snprintf(buf, len, "the kernel refused the rule %s (%s)", what, why); break;
	}
}
