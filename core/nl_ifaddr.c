/*
 * Addresses over the netlink transport: the ones we own (IFA_PROTO
 * VR_RTPROT) and, for the list of links, all of them. Requests are built
 * with libnl's nlmsg/nla calls: libnl 3.7 has no setter for IFA_PROTO, and
 * that attribute is how we mark what we own. This file also keeps the set of
 * addresses we believe we hold, which tells our own IPv6 notifications from
 * others' (they carry no sender port).
 */
#include "nl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/version.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "log.h"

/* An attribute newer than some installed headers (value from the kernel's uapi). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#define IFA_PROTO 11 /* u8, who created the address; kernel >= 5.18 */
#endif
#define NLAD_IFA_MAX (IFA_MAX > IFA_PROTO ? IFA_MAX : IFA_PROTO)

/* One address request: header, ifaddrmsg, four small attributes. */
#define NLAD_MSG_MAX 256
#define NLAD_ADDRS_MAX (1024u * 1024)
#define NLAD_PATH_MAX 128

/*
 * The addresses we believe we hold, sorted, so that notifications can tell
 * our own changes from others'. Valid once known.
 */
struct nl_ifaddr {
	struct kaddr *owned;
	size_t nowned;
	bool known;
};

static const int inet[] = {AF_INET, AF_INET6};

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
		c = memcmp(a->p.addr.a, b->p.addr.a, cidr_addr_len(a->p.addr.family));
	return c;
}

static int kaddr_qcmp(const void *a, const void *b)
{
	return kaddr_cmp(a, b);
}

int nl_ifaddr_new(struct nl_ifaddr **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void owned_forget(struct nl_ifaddr *s)
{
	free(s->owned);
	s->owned = NULL;
	s->nowned = 0;
	s->known = false;
}

void nl_ifaddr_free(struct nl_ifaddr *s)
{
	if (!s)
		return;
	owned_forget(s);
	free(s);
}

static bool owned_holds(const struct nl_ifaddr *s, const struct kaddr *a)
{
	return s->known && bsearch(a, s->owned, s->nowned, sizeof(*s->owned), kaddr_qcmp) != NULL;
}

struct addr_info {
	struct kaddr a;
	uint8_t proto;  /* IFA_PROTO, 0 when absent */
	uint32_t flags; /* IFA_F_* */
};

static bool parse_addr(const struct nlmsghdr *h, struct addr_info *out)
{
	struct nlattr *tb[NLAD_IFA_MAX + 1];
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	size_t alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return false;
	ifa = nl_data(h);
	alen = cidr_addr_len(ifa->ifa_family);
	if (!alen || ifa->ifa_prefixlen > alen * 8)
		return false;
	if (nl_xport_parse(h, sizeof(*ifa), tb, NLAD_IFA_MAX) < 0)
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
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLAD_ADDRS_MAX,
	                    "addresses");
	if (err)
		return err;
	acc->v[acc->n++] = ai;
	return 0;
}

/* The addresses of both families, or of IPv4 alone with v4_only, into acc. */
static int dump_addrs(struct nl_xport *x, bool v4_only, struct addr_acc *acc)
{
	const struct ifaddrmsg ifa = {.ifa_family = AF_UNSPEC};
	const struct nl_xport_dump d = {
	    .type = RTM_GETADDR,
	    .hdr = &ifa,
	    .hlen = sizeof(ifa),
	    .families = inet,
	    .nfamilies = v4_only ? 1 : 2,
	    .what = "address",
	    .cb = addr_cb,
	    .arg = acc,
	    .count = &acc->n,
	};

	return nl_xport_dump(x, &d);
}

/* The kaddr of each of acc's addresses, malloc'd (never NULL on success). */
static int acc_addrs(const struct addr_acc *acc, struct kaddr **out)
{
	struct kaddr *v = malloc((acc->n ? acc->n : 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < acc->n; i++)
		v[i] = acc->v[i].a;
	*out = v;
	return 0;
}

int nl_ifaddr_dump(struct nl_ifaddr *s, struct nl_xport *x, struct kaddr **out, size_t *nout)
{
	struct addr_acc acc = {.owned_only = true};
	struct kaddr *v = NULL, *set = NULL;
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_addrs(x, false, &acc);
	if (!err)
		err = acc_addrs(&acc, &v);
	if (!err)
		err = acc_addrs(&acc, &set);
	if (err)
		goto out;
	qsort(set, acc.n, sizeof(*set), kaddr_qcmp);
	free(s->owned);
	s->owned = set;
	s->nowned = acc.n;
	s->known = true;
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

int nl_ifaddr_all(struct nl_xport *x, struct kaddr **out, size_t *nout)
{
	struct addr_acc acc = {0};
	int err;

	*out = NULL;
	*nout = 0;
	err = dump_addrs(x, false, &acc);
	if (!err)
		err = acc_addrs(&acc, out);
	if (!err)
		*nout = acc.n;
	free(acc.v);
	return err;
}

static int addr_msg(const void *arg, size_t i, uint32_t seq, struct nl_msg **out)
{
	const struct kaddr_op *op = (const struct kaddr_op *)arg + i;
	const struct kaddr *a = &op->a;
	size_t alen = cidr_addr_len(a->p.addr.family);
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

	msg = nlmsg_alloc_size(NLAD_MSG_MAX);
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

static void addr_failed(const void *arg, size_t i, int err, const char *text)
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
	struct kaddr ma = *a, mb = *b;

	cidr_mask(&ma.p);
	cidr_mask(&mb.p);
	return kaddr_cmp(&ma, &mb);
}

static int ai_qcmp_subnet(const void *pa, const void *pb)
{
	const struct addr_info *a = pa, *b = pb;

	return subnet_cmp(&a->a, &b->a);
}

/* Turn on net.ipv4.conf.<link>.promote_secondaries unless it is on. */
static void promote_secondaries(int ifindex, const struct kaddr *why)
{
	char name[IF_NAMESIZE], path[NLAD_PATH_MAX], p[CIDR_STR_MAX], cur = '0';
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
static void keep_secondaries(struct nl_xport *x, const struct kaddr_op *ops, size_t n)
{
	struct addr_acc acc = {0};
	bool any = false;

	for (size_t i = 0; i < n && !any; i++)
		any = ops[i].kind == KOP_DELETE && ops[i].a.p.addr.family == AF_INET;
	if (!any || dump_addrs(x, true, &acc))
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

void nl_ifaddr_batch(struct nl_xport *x, struct nl_xport_batch *b, const struct kaddr_op *ops,
                     size_t n, int *res)
{
	keep_secondaries(x, ops, n);
	*b = (struct nl_xport_batch){
	    .n = n, .build = addr_msg, .failed = addr_failed, .arg = ops, .res = res};
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
void nl_ifaddr_applied(struct nl_ifaddr *s, const struct kaddr_op *ops, size_t n, const int *res)
{
	struct owned_change *ch = NULL;
	struct kaddr *set = NULL;
	size_t nch = 0, nset = 0, i = 0, j = 0;

	if (!s->known)
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
	set = malloc((s->nowned + nch) * sizeof(*set));
	if (!set)
		goto fail;
	while (i < s->nowned || j < nch) {
		int c;

		/* Only the last change of a run of equal addresses counts. */
		if (j < nch && j + 1 < nch && kaddr_cmp(&ch[j].a, &ch[j + 1].a) == 0) {
			j++;
			continue;
		}
		if (i == s->nowned)
			c = 1;
		else if (j == nch)
			c = -1;
		else
			c = kaddr_cmp(&s->owned[i], &ch[j].a);
		if (c < 0) {
			set[nset++] = s->owned[i++];
			continue;
		}
		if (c == 0)
			i++;
		if (ch[j].present)
			set[nset++] = ch[j].a;
		j++;
	}
	free(s->owned);
	s->owned = set;
	s->nowned = nset;
	set = NULL;
	goto out;
fail:
	/* Not knowing is safe: every owned-address event then asks for a resync. */
	owned_forget(s);
out:
	free(set);
	free(ch);
}

/* Does this address notification call for a resync? */
static bool addr_resync(const struct nl_ifaddr *s, const struct nlmsghdr *h, uint32_t port)
{
	struct addr_info ai;
	bool held;

	if (!parse_addr(h, &ai))
		return true;
	/* A foreign address can make a failed route's gateway reachable, or not. */
	if (ai.proto != VR_RTPROT)
		return true;
	/* Our own request: IPv4 notifications carry the requester's port. */
	if (h->nlmsg_pid == port)
		return false;
	/*
	 * IPv6 ones carry none (and come late, after DAD), so compare with
	 * what we believe we hold: a new address we hold is our own add, a
	 * deleted one we no longer hold is our own delete.
	 */
	if (!s->known)
		return true;
	held = owned_holds(s, &ai.a);
	return h->nlmsg_type == RTM_NEWADDR ? !held : held;
}

bool nl_ifaddr_event(const struct nl_ifaddr *s, const struct nlmsghdr *h, uint32_t port,
                     bool *resync)
{
	if (h->nlmsg_type != RTM_NEWADDR && h->nlmsg_type != RTM_DELADDR)
		return false;
	*resync = addr_resync(s, h, port);
	return true;
}

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
	default:
		if (!nl_xport_reason(err, buf, len))
			snprintf(buf, len, "the kernel refused %s on %s (%s)", p, dev, why);
		break;
	}
}
