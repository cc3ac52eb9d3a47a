/*
 * The capture manager (core/capture.c) without a kernel: the "packet socket"
 * is one end of a datagram socketpair, the test writes packets into the
 * other. Filters are compiled by the real libpcap; the pcap file is parsed
 * back field by field.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/filter.h>
#include <sys/socket.h>

#include "capture.h"

#define FAKE_MAX 8

struct fake {
	int peer[FAKE_MAX]; /* the ends the test writes packets into */
	size_t n;
	size_t last_len; /* the last program's length */
	char last_if[IFNAME_MAX];
};

static int fake_open(void *ctx, const char *ifname, const struct sock_filter *prog, size_t len)
{
	struct fake *f = ctx;
	int sv[2];

	if (strcmp(ifname, "eth0") && strcmp(ifname, "eth1"))
		return -ENODEV;
	if (f->n == FAKE_MAX || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -EMFILE;
	snprintf(f->last_if, sizeof(f->last_if), "%s", ifname);
	f->last_len = len;
	assert_non_null(prog);
	f->peer[f->n++] = sv[1];
	return sv[0];
}

struct fx {
	struct fake fake;
	struct capture_mgr *m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(capture_mgr_new(fake_open, &f->fake, &f->m), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	capture_mgr_free(f->m);
	for (size_t i = 0; i < f->fake.n; i++)
		close(f->fake.peer[i]);
	free(f);
	return 0;
}

static struct capture_req req(const char *ifname, const char *filter, uint32_t packets,
                              uint32_t seconds, uint32_t bytes)
{
	struct capture_req r = {.max_packets = packets, .max_seconds = seconds, .max_bytes = bytes};

	snprintf(r.ifname, sizeof(r.ifname), "%s", ifname);
	snprintf(r.filter, sizeof(r.filter), "%s", filter);
	return r;
}

/* Wait (at most ms) until capture id has ended; its last state in *c. */
static void wait_end(struct capture_mgr *m, const char *id, int ms, struct capture_info *c)
{
	struct vr_err e = {0};

	for (int i = 0; i < ms / 10; i++) {
		assert_int_equal(capture_get(m, id, c, &e), 0);
		if (c->state != CAPTURE_RUNNING)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	fail_msg("capture %s still running after %d ms", id, ms);
}

/*
 * Write one packet of len bytes of fill. late: it may come after a bound
 * ended the capture, whose socket may then be closed already (ECONNREFUSED,
 * then ENOTCONN).
 */
static void send_packet(int fd, unsigned char fill, size_t len, bool late)
{
	unsigned char buf[2048];
	ssize_t n;

	assert_true(len <= sizeof(buf));
	memset(buf, fill, len);
	n = send(fd, buf, len, 0);
	if (n < 0 && late && (errno == ECONNREFUSED || errno == ENOTCONN))
		return;
	assert_int_equal(n, (ssize_t)len);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_filter_compile(void **state)
{
	struct sock_filter *prog = NULL;
	struct vr_err e = {0};
	size_t len = 0;

	assert_int_equal(capture_filter_compile("icmp", &prog, &len, &e), 0);
	assert_true(len > 2);
	/* The last instruction accepts the snapshot length, the one before it... */
	assert_int_equal(prog[len - 1].code, BPF_RET | BPF_K);
	assert_int_equal(prog[len - 1].k, 0);
	assert_int_equal(prog[len - 2].code, BPF_RET | BPF_K);
	assert_int_equal(prog[len - 2].k, CAPTURE_SNAPLEN);
	free(prog);

	/* No filter: everything, one instruction. */
	assert_int_equal(capture_filter_compile("", &prog, &len, &e), 0);
	assert_int_equal(len, 1);
	assert_int_equal(prog[0].k, CAPTURE_SNAPLEN);
	free(prog);

	assert_int_equal(capture_filter_compile("icmp and and", &prog, &len, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "filter");
	assert_non_null(strstr(e.msg, "\"icmp and and\""));
	assert_non_null(strstr(e.msg, "syntax error"));
	assert_null(prog);
}

/* max_packets ends it; the file is a pcap file holding exactly the first packets. */
static void test_packets_and_file(void **state)
{
	struct fx *f = *state;
	struct capture_req r = req("eth0", "icmp", 3, 30, CAPTURE_BYTES_MAX);
	struct capture_info c;
	struct vr_err e = {0};
	unsigned char *buf;
	size_t len, off;

	assert_int_equal(capture_start(f->m, &r, &c, &e), 0);
	assert_string_equal(f->fake.last_if, "eth0");
	assert_true(f->fake.last_len > 2);
	assert_int_equal(c.state, CAPTURE_RUNNING);
	assert_int_equal(strncmp(c.id, "cap-", 4), 0);
	assert_int_equal(capture_pcap(f->m, c.id, true, &buf, &len, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	for (int i = 0; i < 5; i++)
		send_packet(f->fake.peer[0], (unsigned char)('a' + i), 60 + (size_t)i, i >= 3);
	wait_end(f->m, c.id, 3000, &c);
	assert_int_equal(c.state, CAPTURE_DONE);
	assert_string_equal(c.reason, "max_packets");
	assert_int_equal(c.packets, 3);
	assert_int_equal(c.bytes, 24 + (16 + 60) + (16 + 61) + (16 + 62));
	assert_true(c.ended_at[0] && c.expires_at[0]);

	assert_int_equal(capture_pcap(f->m, c.id, true, &buf, &len, &e), 0);
	assert_int_equal(len, c.bytes);
	assert_int_equal(get32(buf), 0xa1b2c3d4);
	assert_int_equal(buf[4] | buf[5] << 8, 2);
	assert_int_equal(buf[6] | buf[7] << 8, 4);
	assert_int_equal(get32(buf + 16), CAPTURE_SNAPLEN);
	assert_int_equal(get32(buf + 20), 1); /* LINKTYPE_ETHERNET */
	off = 24;
	for (unsigned i = 0; i < 3; i++) {
		uint32_t caplen = get32(buf + off + 8);

		assert_true(get32(buf + off) > 1600000000u); /* a time of this century */
		assert_true(get32(buf + off + 4) < 1000000); /* microseconds */
		assert_int_equal(caplen, 60 + i);
		assert_int_equal(get32(buf + off + 12), 60 + i);
		assert_int_equal(buf[off + 16], 'a' + i);
		assert_int_equal(buf[off + 16 + caplen - 1], 'a' + i);
		off += 16 + caplen;
	}
	assert_int_equal(off, len);
	free(buf);
	/* Downloaded: still there for a retry, forgotten soon. */
	assert_int_equal(capture_get(f->m, c.id, &c, &e), 0);
	assert_true(c.downloaded);
	assert_true(strcmp(c.expires_at, c.ended_at) > 0);
}

static void test_client_id(void **state)
{
	struct fx *f = *state;
	struct capture_req r = req("eth0", "", 10, 10, CAPTURE_BYTES_MAX);
	struct capture_info c;
	struct vr_err e = {0};

	snprintf(r.id, sizeof(r.id), "cap-00c0ffee");
	assert_int_equal(capture_start(f->m, &r, &c, &e), 0);
	assert_string_equal(c.id, "cap-00c0ffee");
	assert_int_equal(capture_start(f->m, &r, &c, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	snprintf(r.id, sizeof(r.id), "rt-00c0ffee");
	assert_int_equal(capture_start(f->m, &r, &c, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "id");
}

static void test_bytes_bound(void **state)
{
	struct fx *f = *state;
	struct capture_req r = req("eth0", "", 100, 30, CAPTURE_BYTES_MIN);
	struct capture_info c;
	struct vr_err e = {0};

	assert_int_equal(capture_start(f->m, &r, &c, &e), 0);
	for (int i = 0; i < 4; i++)
		send_packet(f->fake.peer[0], 'x', 400, i >= 2);
	wait_end(f->m, c.id, 3000, &c);
	assert_string_equal(c.reason, "max_bytes");
	/* 24 + 2 * (16 + 400) = 856; a third would make 1272 > 1024. */
	assert_int_equal(c.packets, 2);
	assert_int_equal(c.bytes, 856);
}

static void test_seconds_bound(void **state)
{
	struct fx *f = *state;
	struct capture_req r = req("eth0", "", 100, 1, CAPTURE_BYTES_MAX);
	struct timespec t0, t1;
	struct capture_info c;
	struct vr_err e = {0};
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(capture_start(f->m, &r, &c, &e), 0);
	wait_end(f->m, c.id, 5000, &c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_string_equal(c.reason, "max_seconds");
	assert_int_equal(c.packets, 0);
	assert_true(ms >= 1000);
}

/* CAPTURE_MAX at once; stop keeps the file, delete frees the place. */
static void test_count_stop_delete(void **state)
{
	struct fx *f = *state;
	struct capture_req r = req("eth1", "", 100, 60, CAPTURE_BYTES_MAX);
	struct capture_info c[CAPTURE_MAX + 1], l[CAPTURE_MAX];
	struct vr_err e = {0};
	unsigned char *buf;
	size_t len;

	for (int i = 0; i < CAPTURE_MAX; i++)
		assert_int_equal(capture_start(f->m, &r, &c[i], &e), 0);
	assert_int_equal(capture_list(f->m, l), CAPTURE_MAX);
	assert_int_equal(capture_start(f->m, &r, &c[CAPTURE_MAX], &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, c[0].id));

	send_packet(f->fake.peer[1], 'y', 80, false);
	for (int i = 0; i < 300 && c[1].packets == 0; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
		assert_int_equal(capture_get(f->m, c[1].id, &c[1], &e), 0);
	}
	assert_int_equal(capture_stop(f->m, c[1].id, &c[1], &e), 0);
	assert_int_equal(c[1].state, CAPTURE_DONE);
	assert_string_equal(c[1].reason, "stopped");
	assert_int_equal(c[1].packets, 1);
	assert_int_equal(capture_pcap(f->m, c[1].id, true, &buf, &len, &e), 0);
	assert_int_equal(len, 24 + 16 + 80);
	free(buf);

	assert_int_equal(capture_delete(f->m, c[0].id, &e), 0);
	assert_int_equal(capture_delete(f->m, c[0].id, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	/* The downloaded one is held until its grace ends. */
	assert_int_equal(capture_list(f->m, l), CAPTURE_MAX - 1);
	assert_int_equal(capture_start(f->m, &r, &c[CAPTURE_MAX], &e), 0);
	assert_int_equal(capture_list(f->m, l), CAPTURE_MAX);
}

static void expect_invalid(struct fx *f, struct capture_req r, const char *field)
{
	struct capture_info c;
	struct vr_err e = {0};
	size_t opened = f->fake.n;

	assert_int_equal(capture_start(f->m, &r, &c, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, field);
	assert_int_equal(f->fake.n, opened); /* no socket was asked for */
}

static void test_invalid(void **state)
{
	struct fx *f = *state;
	struct capture_info l[CAPTURE_MAX];

	expect_invalid(f, req("eth0", "", 0, 10, CAPTURE_BYTES_MAX), "max_packets");
	expect_invalid(f, req("eth0", "", CAPTURE_PACKETS_MAX + 1, 10, CAPTURE_BYTES_MAX),
	               "max_packets");
	expect_invalid(f, req("eth0", "", 10, 0, CAPTURE_BYTES_MAX), "max_seconds");
	expect_invalid(f, req("eth0", "", 10, CAPTURE_SECONDS_MAX + 1, CAPTURE_BYTES_MAX),
	               "max_seconds");
	expect_invalid(f, req("eth0", "", 10, 10, CAPTURE_BYTES_MIN - 1), "max_bytes");
	expect_invalid(f, req("eth0", "", 10, 10, CAPTURE_BYTES_MAX + 1), "max_bytes");
	expect_invalid(f, req("", "", 10, 10, CAPTURE_BYTES_MAX), "interface");
	expect_invalid(f, req("a/b", "", 10, 10, CAPTURE_BYTES_MAX), "interface");
	expect_invalid(f, req("eth0", "tcp port 70000", 10, 10, CAPTURE_BYTES_MAX), "filter");
	/* The adapter says there is no such link. */
	{
		struct capture_req r = req("nosuch0", "", 10, 10, CAPTURE_BYTES_MAX);
		struct capture_info c;
		struct vr_err e = {0};

		assert_int_equal(capture_start(f->m, &r, &c, &e), -1);
		assert_int_equal(e.code, VR_ERR_INVALID);
		assert_string_equal(e.field, "interface");
		assert_non_null(strstr(e.msg, "nosuch0"));
	}
	assert_int_equal(capture_list(f->m, l), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_filter_compile),
	    cmocka_unit_test_setup_teardown(test_packets_and_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bytes_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seconds_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_count_stop_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
