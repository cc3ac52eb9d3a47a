/*
 * Bounded packet captures (capture.h). One reader thread serves every
 * capture: it polls their sockets and a wake pipe, appends each packet to
 * its capture's pcap file in memory, ends captures at their bounds and
 * forgets finished ones after CAPTURE_KEEP_S. Everything is guarded by one
 * lock, released only while the thread polls.
 *
 * Only the thread closes capture sockets: a descriptor closed by another
 * thread while poll watches it could be reused by the next capture_open
 * and its events taken for the old capture's. A capture deleted from an
 * HTTP thread therefore leaves its slot "gone" (invisible, socket still
 * open) until the thread closes it; there are twice CAPTURE_MAX slots so
 * this never costs a new capture its place.
 */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <sys/socket.h>

#include "log.h"

#define SLOTS (2 * CAPTURE_MAX)
#define READS_PER_ROUND 64 /* packets read from one socket before the others get a turn */
#define PCAP_HDR_LEN 24
#define PCAP_REC_LEN 16
#define LINKTYPE_ETHERNET 1

struct slot {
	bool used; /* holds a capture (or, gone, a socket waiting for the thread to close it) */
	bool gone; /* deleted: invisible, its socket not yet closed */
	struct capture_info info;
	int fd;                   /* -1 once closed */
	struct timespec deadline; /* CLOCK_MONOTONIC: the max_seconds bound */
	struct timespec expires;  /* CLOCK_MONOTONIC: when a finished capture is forgotten */
	unsigned char *buf;       /* the pcap file */
	size_t len, cap;
};

struct capture_mgr {
	pthread_mutex_t lock;
	pthread_cond_t reaped; /* a gone slot was freed */
	pthread_t thread;
	bool thread_started;
	bool quit;
	int wake[2]; /* a byte on wake[1] makes the thread look again */
	capture_open_fn open;
	void *open_ctx;
	struct slot slots[SLOTS];
	unsigned char pkt[CAPTURE_SNAPLEN]; /* the thread's receive buffer */
};

const char *capture_state_name(enum capture_state s)
{
	switch (s) {
	case CAPTURE_RUNNING: return "running";
	case CAPTURE_DONE: return "done";
	case CAPTURE_FAILED: return "failed";
	}
	return "unknown";
}

/* ---- filters ---- */

/* pcap_compile shares state between calls in libpcap before 1.8: one at a time. */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

int capture_filter_compile(const char *filter, struct sock_filter **prog, size_t *len,
                           struct vr_err *e)
{
	struct bpf_program bpf = {0};
	struct sock_filter *v = NULL;
	pcap_t *p;
	int ret = -1;

	*prog = NULL;
	*len = 0;
	pthread_mutex_lock(&compile_lock);
	p = pcap_open_dead(DLT_EN10MB, CAPTURE_SNAPLEN);
	if (!p) {
		err_set(e, VR_ERR_INTERNAL, NULL, "libpcap: out of memory");
		goto out;
	}
	if (pcap_compile(p, &bpf, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		err_set(e, VR_ERR_INVALID, "filter", "filter \"%s\" does not compile: %s", filter,
		        pcap_geterr(p));
		goto out;
	}
	if (bpf.bf_len == 0 || bpf.bf_len > BPF_MAXINSNS) {
		err_set(e, VR_ERR_INVALID, "filter",
		        "filter \"%s\" compiles to %u instructions; the kernel takes 1 to %d",
		        filter, bpf.bf_len, BPF_MAXINSNS);
		goto out;
	}
	v = calloc(bpf.bf_len, sizeof(*v));
	if (!v) {
		err_set(e, VR_ERR_INTERNAL, NULL, "out of memory compiling the filter");
		goto out;
	}
	/* struct bpf_insn and struct sock_filter are the same four fields. */
	for (u_int i = 0; i < bpf.bf_len; i++)
		v[i] = (struct sock_filter){.code = bpf.bf_insns[i].code,
		                            .jt = bpf.bf_insns[i].jt,
		                            .jf = bpf.bf_insns[i].jf,
		                            .k = bpf.bf_insns[i].k};
	*prog = v;
	*len = bpf.bf_len;
	ret = 0;
out:
	pcap_freecode(&bpf);
	if (p)
		pcap_close(p);
	pthread_mutex_unlock(&compile_lock);
	return ret;
}

/* ---- the pcap file ---- */

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The file header: little-endian, microsecond timestamps, version 2.4, Ethernet. */
static void pcap_header(unsigned char *p)
{
	put32(p, 0xa1b2c3d4);
	put16(p + 4, 2);
	put16(p + 6, 4);
	put32(p + 8, 0);  /* thiszone: UTC */
	put32(p + 12, 0); /* sigfigs */
	put32(p + 16, CAPTURE_SNAPLEN);
	put32(p + 20, LINKTYPE_ETHERNET);
}

/* Append one packet (caplen of its origlen bytes); false when the file has no room. */
static bool pcap_append(struct slot *s, const struct timespec *ts, const unsigned char *pkt,
                        size_t caplen, size_t origlen)
{
	size_t need = s->len + PCAP_REC_LEN + caplen;
	unsigned char *p;

	if (need > s->info.req.max_bytes)
		return false;
	if (need > s->cap) {
		size_t cap = s->cap * 2 > need ? s->cap * 2 : need;

		if (cap > s->info.req.max_bytes)
			cap = s->info.req.max_bytes;
		p = realloc(s->buf, cap);
		if (!p)
			return false;
		s->buf = p;
		s->cap = cap;
	}
	p = s->buf + s->len;
	put32(p, (uint32_t)ts->tv_sec);
	put32(p + 4, (uint32_t)(ts->tv_nsec / 1000));
	put32(p + 8, (uint32_t)caplen);
	put32(p + 12, (uint32_t)origlen);
	memcpy(p + PCAP_REC_LEN, pkt, caplen);
	s->len = need;
	s->info.packets++;
	s->info.bytes = s->len;
	return true;
}

/* ---- times ---- */

static void time_text(const struct timespec *ts, char buf[TIME_MAX])
{
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(buf, TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, TIME_MAX - n, ".%03ldZ", ts->tv_nsec / 1000000);
}

static bool ts_reached(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* Milliseconds from now until t, at least 0. */
static long ms_until(const struct timespec *now, const struct timespec *t)
{
	long ms = (long)(t->tv_sec - now->tv_sec) * 1000 + (t->tv_nsec - now->tv_nsec) / 1000000;

	return ms < 0 ? 0 : ms + 1;
}

/* ---- slots (the lock held) ---- */

static void wake(struct capture_mgr *m)
{
	char c = 1;

	/* A full pipe already says "look again". */
	if (write(m->wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_warn("capture: waking the reader");
}

/* End a running capture: state, reason, times. Its socket is closed by the thread. */
static void finish(struct slot *s, enum capture_state state, const char *reason, const char *error)
{
	struct timespec now;

	if (s->info.state != CAPTURE_RUNNING)
		return;
	s->info.state = state;
	snprintf(s->info.reason, sizeof(s->info.reason), "%s", reason);
	snprintf(s->info.error, sizeof(s->info.error), "%s", error ? error : "");
	if (s->fd >= 0) {
		struct tpacket_stats st;
		socklen_t sl = sizeof(st);

		if (!getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl))
			s->info.dropped += st.tp_drops;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	time_text(&now, s->info.ended_at);
	now.tv_sec += CAPTURE_KEEP_S;
	time_text(&now, s->info.expires_at);
	clock_gettime(CLOCK_MONOTONIC, &s->expires);
	s->expires.tv_sec += CAPTURE_KEEP_S;
}

static void slot_free(struct capture_mgr *m, struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	pthread_cond_broadcast(&m->reaped);
}

static struct slot *find(struct capture_mgr *m, const char *id, struct vr_err *e)
{
	for (size_t i = 0; i < SLOTS; i++)
		if (m->slots[i].used && !m->slots[i].gone && !strcmp(m->slots[i].info.id, id))
			return &m->slots[i];
	err_set(e, VR_ERR_NOT_FOUND, NULL,
	        "no capture %s (finished captures are forgotten once downloaded, or after %d "
	        "minutes)",
	        id, CAPTURE_KEEP_S / 60);
	return NULL;
}

static size_t held(const struct capture_mgr *m)
{
	size_t n = 0;

	for (size_t i = 0; i < SLOTS; i++)
		n += m->slots[i].used && !m->slots[i].gone;
	return n;
}

/* ---- the reader thread ---- */

/* The packet's receive time, from the socket's timestamp when there is one. */
static void packet_time(struct msghdr *mh, struct timespec *ts)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(*ts))) {
			memcpy(ts, CMSG_DATA(c), sizeof(*ts));
			return;
		}
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Read what is waiting on s's socket, up to READS_PER_ROUND packets and its bounds. */
static void read_some(struct capture_mgr *m, struct slot *s)
{
	for (int i = 0; i < READS_PER_ROUND && s->info.state == CAPTURE_RUNNING; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(struct timespec)) + 64];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = m->pkt, .iov_len = sizeof(m->pkt)};
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = ctl.buf,
		                    .msg_controllen = sizeof(ctl.buf)};
		struct timespec ts;
		ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		size_t caplen;

		if (n < 0) {
			char why[CAPTURE_ERROR_MAX];

			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			snprintf(why, sizeof(why), "reading packets from %s: %s",
			         s->info.req.ifname, strerror(errno));
			finish(s, CAPTURE_FAILED, "error", why);
			return;
		}
		packet_time(&mh, &ts);
		caplen = (size_t)n < sizeof(m->pkt) ? (size_t)n : sizeof(m->pkt);
		if (!pcap_append(s, &ts, m->pkt, caplen, (size_t)n)) {
			finish(s, CAPTURE_DONE, "max_bytes", NULL);
			return;
		}
		if (s->info.packets >= s->info.req.max_packets)
			finish(s, CAPTURE_DONE, "max_packets", NULL);
	}
}

/* After a poll: ends, closes and forgets what is due; the next poll's timeout in ms (-1: none). */
static int housekeep(struct capture_mgr *m)
{
	struct timespec now;
	long next = -1;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &m->slots[i];
		const struct timespec *due;
		long ms;

		if (!s->used)
			continue;
		if (s->info.state == CAPTURE_RUNNING && ts_reached(&now, &s->deadline))
			finish(s, CAPTURE_DONE, "max_seconds", NULL);
		if (s->info.state != CAPTURE_RUNNING && s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
		if (s->gone ||
		    (s->info.state != CAPTURE_RUNNING && ts_reached(&now, &s->expires))) {
			slot_free(m, s);
			continue;
		}
		due = s->info.state == CAPTURE_RUNNING ? &s->deadline : &s->expires;
		ms = ms_until(&now, due);
		if (next < 0 || ms < next)
			next = ms;
	}
	return next > INT32_MAX ? INT32_MAX : (int)next;
}

static void *reader(void *arg)
{
	struct capture_mgr *m = arg;
	struct pollfd pfd[SLOTS + 1];
	size_t which[SLOTS + 1];

	pthread_mutex_lock(&m->lock);
	while (!m->quit) {
		int timeout = housekeep(m);
		nfds_t n = 1;

		pfd[0] = (struct pollfd){.fd = m->wake[0], .events = POLLIN};
		for (size_t i = 0; i < SLOTS; i++)
			if (m->slots[i].used && m->slots[i].info.state == CAPTURE_RUNNING &&
			    m->slots[i].fd >= 0) {
				pfd[n] = (struct pollfd){.fd = m->slots[i].fd, .events = POLLIN};
				which[n++] = i;
			}
		pthread_mutex_unlock(&m->lock);
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			log_warn("capture: poll");
		pthread_mutex_lock(&m->lock);
		if (pfd[0].revents) {
			char drain[64];

			while (read(m->wake[0], drain, sizeof(drain)) > 0)
				;
		}
		/* Only this thread closes sockets, so each fd still belongs to its slot. */
		for (nfds_t j = 1; j < n; j++) {
			struct slot *s = &m->slots[which[j]];

			if (pfd[j].revents && s->info.state == CAPTURE_RUNNING && !s->gone)
				read_some(m, s);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- the manager ---- */

int capture_mgr_new(capture_open_fn open, void *ctx, struct capture_mgr **out)
{
	struct capture_mgr *m = calloc(1, sizeof(*m));
	int err;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->open = open;
	m->open_ctx = ctx;
	for (size_t i = 0; i < SLOTS; i++)
		m->slots[i].fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->reaped, NULL);
	if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		m->wake[0] = m->wake[1] = -1;
		err = -errno;
		goto fail;
	}
	err = -pthread_create(&m->thread, NULL, reader, m);
	if (err)
		goto fail;
	m->thread_started = true;
	*out = m;
	return 0;
fail:
	capture_mgr_free(m);
	return err;
}

void capture_mgr_free(struct capture_mgr *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->quit = true;
		wake(m);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	for (size_t i = 0; i < SLOTS; i++)
		if (m->slots[i].used)
			slot_free(m, &m->slots[i]);
	if (m->wake[0] >= 0)
		close(m->wake[0]);
	if (m->wake[1] >= 0)
		close(m->wake[1]);
	pthread_cond_destroy(&m->reaped);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int req_check(const struct capture_req *r, struct vr_err *e)
{
	if (r->id[0] && !model_id_valid(r->id, CAPTURE_PREFIX))
		return err_set(
		    e, VR_ERR_INVALID, "id",
		    "id \"%s\" is not a capture id: \"%s\" and 1 to 40 lowercase hex digits", r->id,
		    CAPTURE_PREFIX);
	if (!model_ifname_valid(r->ifname))
		return err_set(
		    e, VR_ERR_INVALID, "interface",
		    "interface \"%s\" is not a valid interface name (1 to 15 characters, "
		    "no '/', ':' or white space)",
		    r->ifname);
	if (r->max_packets < 1 || r->max_packets > CAPTURE_PACKETS_MAX)
		return err_set(e, VR_ERR_INVALID, "max_packets",
		               "max_packets %" PRIu32 " is out of range: 1 to %d", r->max_packets,
		               CAPTURE_PACKETS_MAX);
	if (r->max_seconds < 1 || r->max_seconds > CAPTURE_SECONDS_MAX)
		return err_set(e, VR_ERR_INVALID, "max_seconds",
		               "max_seconds %" PRIu32 " is out of range: 1 to %d", r->max_seconds,
		               CAPTURE_SECONDS_MAX);
	if (r->max_bytes < CAPTURE_BYTES_MIN || r->max_bytes > CAPTURE_BYTES_MAX)
		return err_set(e, VR_ERR_INVALID, "max_bytes",
		               "max_bytes %" PRIu32 " is out of range: %u to %u", r->max_bytes,
		               CAPTURE_BYTES_MIN, CAPTURE_BYTES_MAX);
	return 0;
}

/* The socket for r, or -1 with e saying why in the caller's words. */
static int open_socket(struct capture_mgr *m, const struct capture_req *r,
                       const struct sock_filter *prog, size_t len, struct vr_err *e)
{
	int fd = m->open ? m->open(m->open_ctx, r->ifname, prog, len) : -EOPNOTSUPP;

	if (fd >= 0)
		return fd;
	if (fd == -ENODEV)
		err_set(e, VR_ERR_INVALID, "interface",
		        "interface \"%s\" does not exist in this namespace (GET /v1/interfaces "
		        "lists them)",
		        r->ifname);
	else if (fd == -EOPNOTSUPP)
		err_set(e, VR_ERR_UNAVAILABLE, NULL,
		        "packet captures are not available in this vrouterd");
	else
		err_set(e, VR_ERR_UNAVAILABLE, NULL, "cannot open a packet socket on %s: %s",
		        r->ifname, strerror(-fd));
	return -1;
}

static void held_ids(const struct capture_mgr *m, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < SLOTS && off < len; i++)
		if (m->slots[i].used && !m->slots[i].gone)
			off += (size_t)snprintf(buf + off, len - off, "%s%s %s", off ? ", " : "",
			                        m->slots[i].info.id,
			                        capture_state_name(m->slots[i].info.state));
}

int capture_start(struct capture_mgr *m, const struct capture_req *r, struct capture_info *out,
                  struct vr_err *e)
{
	struct sock_filter *prog = NULL;
	struct slot *s = NULL;
	struct timespec now;
	size_t len = 0;
	int fd = -1, ret = -1;

	if (req_check(r, e) || capture_filter_compile(r->filter, &prog, &len, e))
		goto out_free;
	/* The socket is opened without the lock: a privileged helper may take a moment. */
	fd = open_socket(m, r, prog, len, e);
	if (fd < 0)
		goto out_free;
	pthread_mutex_lock(&m->lock);
	if (held(m) >= CAPTURE_MAX) {
		char ids[CAPTURE_MAX * (ID_MAX + 12)];

		held_ids(m, ids, sizeof(ids));
		err_set(e, VR_ERR_CONFLICT, NULL,
		        "%d captures are held already (%s): download or delete one first; "
		        "finished ones are forgotten after %d minutes",
		        CAPTURE_MAX, ids, CAPTURE_KEEP_S / 60);
		goto out;
	}
	if (r->id[0] && find(m, r->id, NULL)) {
		err_set(e, VR_ERR_CONFLICT, "id", "capture %s exists already", r->id);
		goto out;
	}
	for (;;) {
		for (size_t i = 0; i < SLOTS && !s; i++)
			if (!m->slots[i].used)
				s = &m->slots[i];
		if (s)
			break;
		/* Only deleted captures' sockets wait to be closed: the thread does it next. */
		wake(m);
		pthread_cond_wait(&m->reaped, &m->lock);
	}
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->fd = fd;
	fd = -1;
	s->buf = malloc(PCAP_HDR_LEN);
	if (!s->buf) {
		slot_free(m, s);
		err_set(e, VR_ERR_INTERNAL, NULL, "out of memory starting a capture");
		goto out;
	}
	s->cap = s->len = PCAP_HDR_LEN;
	pcap_header(s->buf);
	s->info.req = *r;
	if (r->id[0])
		snprintf(s->info.id, sizeof(s->info.id), "%s", r->id);
	else
		model_id_new(CAPTURE_PREFIX, s->info.id);
	s->info.state = CAPTURE_RUNNING;
	s->info.bytes = s->len;
	clock_gettime(CLOCK_REALTIME, &now);
	time_text(&now, s->info.started_at);
	clock_gettime(CLOCK_MONOTONIC, &s->deadline);
	s->deadline.tv_sec += r->max_seconds;
	*out = s->info;
	wake(m);
	ret = 0;
out:
	pthread_mutex_unlock(&m->lock);
out_free:
	if (fd >= 0)
		close(fd);
	free(prog);
	return ret;
}

int capture_get(struct capture_mgr *m, const char *id, struct capture_info *out, struct vr_err *e)
{
	struct slot *s;

	pthread_mutex_lock(&m->lock);
	s = find(m, id, e);
	if (s)
		*out = s->info;
	pthread_mutex_unlock(&m->lock);
	return s ? 0 : -1;
}

static int started_cmp(const void *pa, const void *pb)
{
	const struct capture_info *a = pa, *b = pb;

	return strcmp(a->started_at, b->started_at);
}

size_t capture_list(struct capture_mgr *m, struct capture_info *out)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < SLOTS && n < CAPTURE_MAX; i++)
		if (m->slots[i].used && !m->slots[i].gone)
			out[n++] = m->slots[i].info;
	pthread_mutex_unlock(&m->lock);
	qsort(out, n, sizeof(*out), started_cmp);
	return n;
}

int capture_stop(struct capture_mgr *m, const char *id, struct capture_info *out, struct vr_err *e)
{
	struct slot *s;

	pthread_mutex_lock(&m->lock);
	s = find(m, id, e);
	if (s) {
		finish(s, CAPTURE_DONE, "stopped", NULL);
		*out = s->info;
		wake(m);
	}
	pthread_mutex_unlock(&m->lock);
	return s ? 0 : -1;
}

int capture_delete(struct capture_mgr *m, const char *id, struct vr_err *e)
{
	struct slot *s;

	pthread_mutex_lock(&m->lock);
	s = find(m, id, e);
	if (s) {
		finish(s, CAPTURE_DONE, "stopped", NULL);
		s->gone = true;
		free(s->buf);
		s->buf = NULL;
		s->len = s->cap = 0;
		wake(m);
	}
	pthread_mutex_unlock(&m->lock);
	return s ? 0 : -1;
}

int capture_pcap(struct capture_mgr *m, const char *id, bool download, unsigned char **buf,
                 size_t *len, struct vr_err *e)
{
	struct slot *s;
	int ret = -1;

	*buf = NULL;
	*len = 0;
	pthread_mutex_lock(&m->lock);
	s = find(m, id, e);
	if (!s)
		goto out;
	if (s->info.state == CAPTURE_RUNNING) {
		err_set(e, VR_ERR_CONFLICT, NULL,
		        "capture %s is still running (%" PRIu64
		        " packets so far): its file is ready "
		        "when it ends, or stop it with POST /v1/diagnostics/captures/%s/stop",
		        id, s->info.packets, id);
		goto out;
	}
	*buf = malloc(s->len);
	if (!*buf) {
		err_set(e, VR_ERR_INTERNAL, NULL, "out of memory copying capture %s", id);
		goto out;
	}
	memcpy(*buf, s->buf, s->len);
	*len = s->len;
	if (download && !s->info.downloaded) {
		struct timespec now;

		s->info.downloaded = true;
		clock_gettime(CLOCK_MONOTONIC, &s->expires);
		s->expires.tv_sec += CAPTURE_DOWNLOADED_S;
		clock_gettime(CLOCK_REALTIME, &now);
		now.tv_sec += CAPTURE_DOWNLOADED_S;
		time_text(&now, s->info.expires_at);
		wake(m);
	}
	ret = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}
