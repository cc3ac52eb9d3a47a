#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_ID_MAX 64 /* bytes of a SHA-256 key id, with room */

/* One certificate chain and its key, as loaded; never changed once loaded. */
struct tls_pair {
	gnutls_x509_crt_t *crts; /* the server's certificate first */
	unsigned ncrts;
	gnutls_x509_privkey_t key;
};

struct tls {
	char *cert_file, *key_file;
	pthread_mutex_t lock; /* guards pair: a handshake copies it while a reload replaces it */
	struct tls_pair *pair;
};

/* The pair handshakes get (tls_serve); taken before a tls's own lock. */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls *served;

static void pair_free(struct tls_pair *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->ncrts; i++)
		gnutls_x509_crt_deinit(p->crts[i]);
	gnutls_free(p->crts);
	if (p->key)
		gnutls_x509_privkey_deinit(p->key);
	free(p);
}

/*
 * The whole file at path into d (malloc'd, to free with free), at most
 * TLS_FILE_MAX bytes. private_key: refused when others may read or write it.
 */
static int read_file(const char *path, bool private_key, gnutls_datum_t *d, char *why, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	d->data = NULL;
	d->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		snprintf(why, len, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(why, len, "%s: not a regular file", path);
		goto out;
	}
	/* Whoever else can read the key can pose as this router. */
	if (private_key && (st.st_mode & 007)) {
		rc = -EACCES;
		snprintf(why, len,
		         "%s: the private key is open to others (mode %04o); its owner and group "
		         "only: chmod o-rwx %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > TLS_FILE_MAX) {
		rc = -EINVAL;
		snprintf(why, len, "%s: %lld bytes; expected 1 to %d", path, (long long)st.st_size,
		         TLS_FILE_MAX);
		goto out;
	}
	d->data = malloc((size_t)st.st_size + 1);
	if (!d->data) {
		rc = -ENOMEM;
		snprintf(why, len, "%s: out of memory", path);
		goto out;
	}
	n = read(fd, d->data, (size_t)st.st_size + 1);
	if (n != st.st_size) {
		rc = n < 0 ? -errno : -EIO;
		snprintf(why, len, "%s: %s", path,
		         n < 0 ? strerror(errno) : "its size changed while it was read");
		goto out;
	}
	d->data[n] = '\0';
	d->size = (unsigned)n;
out:
	if (fd >= 0)
		close(fd);
	if (rc && d->data) {
		explicit_bzero(d->data, (size_t)st.st_size + 1);
		free(d->data);
		d->data = NULL;
	}
	return rc;
}

/* Whether the certificate crt is for key. */
static bool key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	unsigned char a[KEY_ID_MAX], b[KEY_ID_MAX];
	size_t na = sizeof(a), nb = sizeof(b);

	return gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) == 0 &&
	       gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) == 0 &&
	       na == nb && !memcmp(a, b, na);
}

static int pair_load(const char *cert_file, const char *key_file, struct tls_pair **out, char *why,
                     size_t len)
{
	gnutls_datum_t cert = {0}, key = {0};
	struct tls_pair *p = calloc(1, sizeof(*p));
	int rc, g;

	*out = NULL;
	if (!p) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	rc = read_file(cert_file, false, &cert, why, len);
	if (rc)
		goto out;
	g = gnutls_x509_crt_list_import2(&p->crts, &p->ncrts, &cert, GNUTLS_X509_FMT_PEM,
	                                 GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (g < 0 || p->ncrts == 0) {
		rc = -EINVAL;
		snprintf(why, len, "%s: no PEM certificate chain (server certificate first): %s",
		         cert_file, g < 0 ? gnutls_strerror(g) : "no certificate in it");
		goto out;
	}
	rc = read_file(key_file, true, &key, why, len);
	if (rc)
		goto out;
	g = gnutls_x509_privkey_init(&p->key);
	if (g == 0)
		g = gnutls_x509_privkey_import2(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0) {
		rc = -EINVAL;
		snprintf(why, len, "%s: no unencrypted PEM private key: %s", key_file,
		         gnutls_strerror(g));
		goto out;
	}
	if (!key_matches(p->crts[0], p->key)) {
		rc = -EINVAL;
		snprintf(why, len, "%s is not the private key of the certificate in %s", key_file,
		         cert_file);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	free(cert.data);
	if (key.data) {
		explicit_bzero(key.data, key.size);
		free(key.data);
	}
	pair_free(p);
	return rc;
}

int tls_open(const char *cert_file, const char *key_file, struct tls **out, char *why, size_t len)
{
	struct tls *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (!t || !(t->cert_file = strdup(cert_file)) || !(t->key_file = strdup(key_file))) {
		snprintf(why, len, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = pair_load(cert_file, key_file, &t->pair, why, len);
	if (rc)
		goto fail;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
fail:
	if (t) {
		free(t->cert_file);
		free(t->key_file);
		free(t);
	}
	return rc;
}

static bool same_chain(const struct tls_pair *a, const struct tls_pair *b)
{
	if (a->ncrts != b->ncrts)
		return false;
	for (unsigned i = 0; i < a->ncrts; i++)
		if (!gnutls_x509_crt_equals(a->crts[i], b->crts[i]))
			return false;
	return true;
}

int tls_reload(struct tls *t, bool *changed, char *why, size_t len)
{
	struct tls_pair *p, *old;
	int rc;

	rc = pair_load(t->cert_file, t->key_file, &p, why, len);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->lock);
	old = t->pair;
	t->pair = p;
	pthread_mutex_unlock(&t->lock);
	/* The chain names its key: the same chain means the same key. */
	*changed = !same_chain(old, p);
	pair_free(old);
	return 0;
}

void tls_describe(struct tls *t, char *out, size_t len)
{
	gnutls_datum_t dn = {0};
	time_t until;
	struct tm tm;
	char when[64] = "?";

	pthread_mutex_lock(&t->lock);
	if (gnutls_x509_crt_get_dn3(t->pair->crts[0], &dn, 0) < 0)
		dn.data = NULL;
	until = gnutls_x509_crt_get_expiration_time(t->pair->crts[0]);
	pthread_mutex_unlock(&t->lock);
	if (until != (time_t)-1 && gmtime_r(&until, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(out, len, "%s, valid until %s%s", dn.data ? (char *)dn.data : "(no subject)", when,
	         until != (time_t)-1 && until < time(NULL) ? " (EXPIRED)" : "");
	gnutls_free(dn.data);
}

void tls_close(struct tls *t)
{
	if (!t)
		return;
	pair_free(t->pair);
	pthread_mutex_destroy(&t->lock);
	free(t->cert_file);
	free(t->key_file);
	free(t);
}

int tls_serve(struct tls *t)
{
	int rc = 0;

	pthread_mutex_lock(&served_lock);
	if (served && served != t)
		rc = -EBUSY;
	else
		served = t;
	pthread_mutex_unlock(&served_lock);
	return rc;
}

void tls_unserve(struct tls *t)
{
	pthread_mutex_lock(&served_lock);
	if (t && served == t)
		served = NULL;
	pthread_mutex_unlock(&served_lock);
}

/* A copy of p that GnuTLS frees with the session (GNUTLS_CERT_RETR_DEINIT_ALL). */
static int pair_copy(const struct tls_pair *p, gnutls_pcert_st **certs, unsigned *ncerts,
                     gnutls_privkey_t *key)
{
	gnutls_pcert_st *pc = gnutls_calloc(p->ncrts, sizeof(*pc));
	gnutls_privkey_t k = NULL;
	unsigned i = 0;
	int rc = GNUTLS_E_MEMORY_ERROR;

	if (!pc)
		return rc;
	for (; i < p->ncrts; i++) {
		rc = gnutls_pcert_import_x509(&pc[i], p->crts[i], 0);
		if (rc < 0)
			goto fail;
	}
	rc = gnutls_privkey_init(&k);
	if (rc == 0)
		rc = gnutls_privkey_import_x509(k, p->key, GNUTLS_PRIVKEY_IMPORT_COPY);
	if (rc < 0)
		goto fail;
	*certs = pc;
	*ncerts = p->ncrts;
	*key = k;
	return 0;
fail:
	while (i-- > 0)
		gnutls_pcert_deinit(&pc[i]);
	gnutls_free(pc);
	if (k)
		gnutls_privkey_deinit(k);
	return rc;
}

int tls_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                 gnutls_pcert_st **certs, unsigned int *ncerts, gnutls_ocsp_data_st **ocsp,
                 unsigned int *nocsp, gnutls_privkey_t *key, unsigned int *flags)
{
	int rc = GNUTLS_E_INSUFFICIENT_CREDENTIALS;

	*ocsp = NULL;
	*nocsp = 0;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	pthread_mutex_lock(&served_lock);
	if (served) {
		pthread_mutex_lock(&served->lock);
		rc = pair_copy(served->pair, certs, ncerts, key);
		pthread_mutex_unlock(&served->lock);
	}
	pthread_mutex_unlock(&served_lock);
	return rc;
}
