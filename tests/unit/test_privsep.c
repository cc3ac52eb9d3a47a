/*
 * The privilege-separation message checker (core/privsep_msg.c): what the
 * privileged process refuses before acting, and the privileged loop closing
 * the channel on a refused request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep.h"
#include "sgc.h"

static char why[512];

static int hdr(uint32_t type, uint32_t len)
{
	struct ps_hdr h = {.type = type, .len = len};

	why[0] = '\0';
	return ps_check_hdr(&h, why, sizeof(why));
}

static void test_unknown_type(void **state)
{
	assert_int_equal(hdr(0, 0), -EBADMSG);
	assert_int_equal(hdr(PS_TYPE_END, 0), -EBADMSG);
	assert_int_equal(hdr(0x80000001u, 0), -EBADMSG);
	assert_non_null(strstr(why, "unknown request type"));
	assert_int_equal(ps_check_body(999, NULL, 0, why, sizeof(why)), -EBADMSG);
	assert_int_equal(hdr(PS_ROUTE_DUMP, 0), 0);
}

static void test_wrong_length(void **state)
{
	/* Fixed-size bodies: exactly their size. */
	assert_int_equal(hdr(PS_OPEN, 1), -EBADMSG);
	assert_int_equal(hdr(PS_LINK_INDEX, sizeof(struct ps_name) - 1), -EBADMSG);
	assert_int_equal(hdr(PS_LINK_INDEX, sizeof(struct ps_name) + 1), -EBADMSG);
	assert_non_null(strstr(why, "link_index"));
	assert_int_equal(hdr(PS_LINK_INDEX, sizeof(struct ps_name)), 0);
	assert_int_equal(hdr(PS_ROUTE_GET, sizeof(struct kroute_query) + 4), -EBADMSG);
	assert_int_equal(hdr(PS_FWD_SET, 0), -EBADMSG);
	/* Arrays: a whole number of elements. */
	assert_int_equal(hdr(PS_ROUTE_APPLY, 3 * sizeof(struct kroute_op) + 1), -EBADMSG);
	assert_int_equal(hdr(PS_ROUTE_APPLY, 3 * sizeof(struct kroute_op)), 0);
	assert_int_equal(hdr(PS_CAPTURE_OPEN, sizeof(struct ps_capture) + 5), -EBADMSG);
	assert_int_equal(hdr(PS_NFT_SEND, 4), -EBADMSG);
}

static void test_oversized(void **state)
{
	assert_int_equal(hdr(PS_ROUTE_APPLY, PS_BODY_MAX + sizeof(struct kroute_op)), -EBADMSG);
	assert_int_equal(hdr(PS_NFT_SEND, PS_BODY_MAX + 1), -EBADMSG);
	assert_int_equal(hdr(PS_NFT_SEND, UINT32_MAX), -EBADMSG);
	/* A capture filter longer than BPF_MAXINSNS. */
	assert_int_equal(hdr(PS_CAPTURE_OPEN, sizeof(struct ps_capture) +
	                                          (PS_BPF_MAX + 1) * sizeof(struct sock_filter)),
	                 -EBADMSG);
	assert_int_equal(hdr(PS_CAPTURE_OPEN,
	                     sizeof(struct ps_capture) + PS_BPF_MAX * sizeof(struct sock_filter)),
	                 0);
}

static void test_unterminated_string(void **state)
{
	struct ps_name n;

	memset(n.name, 'x', sizeof(n.name));
	assert_int_equal(ps_check_body(PS_LINK_INDEX, &n, sizeof(n), why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "NUL"));
	n.name[sizeof(n.name) - 1] = '\0';
	assert_int_equal(ps_check_body(PS_LINK_INDEX, &n, sizeof(n), why, sizeof(why)), 0);
}

static void test_values(void **state)
{
	struct kroute_op o[2];
	struct ps_fwd f = {.v4 = 1, .v6 = 2};
	struct ps_capture c[2] = {{.ifindex = 0}};

	memset(o, 0, sizeof(o));
	for (int i = 0; i < 2; i++) {
		o[i].kind = KOP_REPLACE;
		o[i].r.type = RTN_UNICAST;
		o[i].r.dst.addr.family = AF_INET;
		o[i].r.dst.len = 24;
	}
	assert_int_equal(ps_check_body(PS_ROUTE_APPLY, o, sizeof(o), why, sizeof(why)), 0);
	o[1].r.dst.len = 33;
	assert_int_equal(ps_check_body(PS_ROUTE_APPLY, o, sizeof(o), why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "op 1"));
	o[1].r.dst.len = 24;
	o[1].kind = (enum kop_kind)7;
	assert_int_equal(ps_check_body(PS_ROUTE_APPLY, o, sizeof(o), why, sizeof(why)), -EBADMSG);
	o[1].kind = KOP_ADD;
	o[1].r.type = RTN_LOCAL;
	assert_int_equal(ps_check_body(PS_ROUTE_APPLY, o, sizeof(o), why, sizeof(why)), -EBADMSG);
	assert_int_equal(ps_check_body(PS_FWD_SET, &f, sizeof(f), why, sizeof(why)), -EBADMSG);
	f.v6 = 0;
	assert_int_equal(ps_check_body(PS_FWD_SET, &f, sizeof(f), why, sizeof(why)), 0);
	/* capture_open: a real link and at least one instruction. */
	assert_int_equal(ps_check_body(PS_CAPTURE_OPEN, c, sizeof(c), why, sizeof(why)), -EBADMSG);
	c[0].ifindex = 2;
	assert_int_equal(ps_check_body(PS_CAPTURE_OPEN, c, sizeof(c), why, sizeof(why)), 0);
	assert_int_equal(ps_check_body(PS_CAPTURE_OPEN, c, sizeof(c[0]), why, sizeof(why)),
	                 -EBADMSG);
}

/* An nft_send body: struct ps_nft_send, then the batch that deletes table inet vrouter. */
static void *nft_body(size_t *len, size_t *nmsgs)
{
	struct sgc_batch *b = NULL;
	const void *data;
	size_t blen;
	char *body;

	assert_int_equal(sgc_batch_full(NULL, &b), 0);
	data = sgc_batch_data(b, &blen);
	*nmsgs = sgc_batch_nmsgs(b);
	assert_true(*nmsgs >= 1);
	body = malloc(sizeof(struct ps_nft_send) + blen);
	assert_non_null(body);
	((struct ps_nft_send *)body)->nmsgs = *nmsgs;
	memcpy(body + sizeof(struct ps_nft_send), data, blen);
	*len = sizeof(struct ps_nft_send) + blen;
	sgc_batch_free(b);
	return body;
}

static int check_nft(void *body, size_t len)
{
	why[0] = '\0';
	return ps_check_body(PS_NFT_SEND, body, len, why, sizeof(why));
}

static void test_nft_batch(void **state)
{
	size_t len, nm;
	char *body = nft_body(&len, &nm), *p;
	struct nlmsghdr *m1;

	assert_int_equal(check_nft(body, len), 0);

	/* Another table: the name in the first message changed. */
	m1 =
	    (struct nlmsghdr *)(body + sizeof(struct ps_nft_send) +
	                        NLMSG_ALIGN(((struct nlmsghdr *)(body + sizeof(struct ps_nft_send)))
	                                        ->nlmsg_len));
	p = memmem(m1, m1->nlmsg_len, SGC_TABLE, strlen(SGC_TABLE) + 1);
	assert_non_null(p);
	p[0] = 'X';
	assert_int_equal(check_nft(body, len), -EBADMSG);
	assert_non_null(strstr(why, "another table"));
	p[0] = SGC_TABLE[0];
	assert_int_equal(check_nft(body, len), 0);

	/* Another family. */
	((struct nfgenmsg *)NLMSG_DATA(m1))->nfgen_family = NFPROTO_IPV4;
	assert_int_equal(check_nft(body, len), -EBADMSG);
	((struct nfgenmsg *)NLMSG_DATA(m1))->nfgen_family = NFPROTO_INET;

	/* Another subsystem's message (ipset, 6) in the batch. */
	m1->nlmsg_type = (uint16_t)(6 << 8 | (m1->nlmsg_type & 0xff));
	assert_int_equal(check_nft(body, len), -EBADMSG);
	m1->nlmsg_type = (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | (m1->nlmsg_type & 0xff));
	assert_int_equal(check_nft(body, len), 0);

	/* A name not terminated within its attribute. */
	p = memmem(m1, m1->nlmsg_len, SGC_TABLE, strlen(SGC_TABLE) + 1);
	p[strlen(SGC_TABLE)] = 'x';
	assert_int_equal(check_nft(body, len), -EBADMSG);
	p[strlen(SGC_TABLE)] = '\0';

	/* A count that does not match, a batch cut short, bytes after its end. */
	((struct ps_nft_send *)body)->nmsgs = nm + 1;
	assert_int_equal(check_nft(body, len), -EBADMSG);
	((struct ps_nft_send *)body)->nmsgs = nm;
	assert_int_equal(check_nft(body, len - 4), -EBADMSG);
	assert_int_equal(check_nft(body, sizeof(struct ps_nft_send)), -EBADMSG);
	{
		char *longer = calloc(1, len + 32);

		memcpy(longer, body, len);
		assert_int_equal(check_nft(longer, len + 32), -EBADMSG);
		free(longer);
	}
	assert_int_equal(check_nft(body, len), 0);
	free(body);
}

static void test_truncated(void **state)
{
	int sv[2];
	struct ps_hdr h = {.type = PS_LINK_INDEX, .len = sizeof(struct ps_name)};
	void *body = (void *)1;
	int fd;

	/* A body cut short by the end of the stream. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sv[0], "eth0", 4), 4);
	close(sv[0]);
	assert_int_equal(ps_recv(sv[1], &h, &body, &fd, ps_check_hdr, why, sizeof(why)), -EBADMSG);
	assert_null(body);
	assert_non_null(strstr(why, "cut short"));
	close(sv[1]);

	/* A header cut short. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], &h, 3), 3);
	close(sv[0]);
	assert_int_equal(ps_recv(sv[1], &h, &body, &fd, ps_check_hdr, why, sizeof(why)), -EBADMSG);
	close(sv[1]);

	/* A header the checker refuses: the body is never read. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	h = (struct ps_hdr){.type = PS_ROUTE_APPLY, .len = PS_BODY_MAX + 64};
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(ps_recv(sv[1], &h, &body, &fd, ps_check_hdr, why, sizeof(why)), -EBADMSG);
	close(sv[0]);
	close(sv[1]);

	/* A whole message goes through. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		struct ps_name n = {.name = "eth0"};

		assert_int_equal(ps_send(sv[0], PS_LINK_INDEX, &n, sizeof(n), NULL, 0, -1), 0);
		assert_int_equal(ps_recv(sv[1], &h, &body, &fd, ps_check_hdr, why, sizeof(why)), 0);
		assert_int_equal(h.len, sizeof(n));
		assert_string_equal(((struct ps_name *)body)->name, "eth0");
		assert_int_equal(fd, -1);
		free(body);
	}
	close(sv[0]);
	close(sv[1]);
}

struct srv_arg {
	int sock;
};

static void *srv(void *p)
{
	struct srv_arg *a = p;

	privsep_serve(a->sock, true, -1, -1);
	close(a->sock);
	return NULL;
}

/* The privileged loop closes the channel on a refused request and never answers it. */
static void refused_closes(const void *msg, size_t len)
{
	int sv[2];
	struct srv_arg a;
	pthread_t t;
	char c;
	ssize_t r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	a.sock = sv[1];
	assert_int_equal(pthread_create(&t, NULL, srv, &a), 0);
	assert_int_equal(write(sv[0], msg, len), (ssize_t)len);
	/* End of file (or a reset, when the refused body was left unread): no answer. */
	r = read(sv[0], &c, 1);
	assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
	pthread_join(t, NULL);
	close(sv[0]);
}

static void test_serve_refuses(void **state)
{
	struct {
		struct ps_hdr h;
		struct ps_name n;
	} m;

	/* Unknown type. */
	m.h = (struct ps_hdr){.type = 4242, .len = 0};
	refused_closes(&m.h, sizeof(m.h));
	/* A query channel never applies routes, nor anything before open. */
	m.h = (struct ps_hdr){.type = PS_ROUTE_APPLY, .len = 0};
	refused_closes(&m.h, sizeof(m.h));
	/* Unterminated name (after open it would reach the checker; before, refused anyway). */
	m.h = (struct ps_hdr){.type = PS_LINK_INDEX, .len = sizeof(m.n)};
	memset(m.n.name, 'y', sizeof(m.n.name));
	refused_closes(&m, sizeof(m));
	/* Wrong length. */
	m.h = (struct ps_hdr){.type = PS_OPEN, .len = 4};
	refused_closes(&m, sizeof(m.h) + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unknown_type), cmocka_unit_test(test_wrong_length),
	    cmocka_unit_test(test_oversized),    cmocka_unit_test(test_unterminated_string),
	    cmocka_unit_test(test_values),       cmocka_unit_test(test_nft_batch),
	    cmocka_unit_test(test_truncated),    cmocka_unit_test(test_serve_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
