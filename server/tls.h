/*
 * The certificate and key the HTTP server presents over TLS (GnuTLS, through
 * libmicrohttpd): read from two PEM files at start and again on SIGHUP, so a
 * renewed certificate is in force for new connections without the listening
 * socket closing; connections already up keep the session they made.
 */
#ifndef VR_TLS_H
#define VR_TLS_H

#include <gnutls/abstract.h>
#include <stdbool.h>
#include <stddef.h>

#define TLS_FILE_MAX (1024 * 1024) /* bytes of a certificate chain or key file */
#define TLS_WHY_MAX 512            /* room for a reason */
#define TLS_INFO_MAX 512           /* room for "CN=..., valid until ..." */
/* TLS 1.2 and 1.3 only, GnuTLS's NORMAL ciphers otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls;

/*
 * Load the certificate chain (PEM, the server's certificate first) and its
 * private key (PEM, unencrypted; the file must be a regular file that others
 * may neither read nor write: its group may read it, as Debian's ssl-cert
 * group does). Returns 0 with *out, or -errno with why naming the file and
 * the problem (a key that is not the certificate's is refused).
 */
int tls_open(const char *cert_file, const char *key_file, struct tls **out, char *why, size_t len)
    __attribute__((warn_unused_result));
/*
 * Read both files again. When they load, the new pair is presented to the
 * handshakes that start from now on, and *changed says whether it differs
 * from the old; otherwise -errno with why, and the pair in force stays.
 */
int tls_reload(struct tls *t, bool *changed, char *why, size_t len)
    __attribute__((warn_unused_result));
/* What t presents now: the certificate's subject and its end of validity. */
void tls_describe(struct tls *t, char *out, size_t len);
/* NULL-safe. Not while a server presents t (tls_serve). */
void tls_close(struct tls *t);

/*
 * Make t the pair that tls_retrieve presents. One per process: GnuTLS's
 * callback carries no context of its own. -EBUSY when another is served.
 */
int tls_serve(struct tls *t) __attribute__((warn_unused_result));
/* Stop presenting t (after the server stopped). NULL-safe. */
void tls_unserve(struct tls *t);
/*
 * For libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK2: a copy of the served
 * pair for one handshake, which GnuTLS frees with its session (so a reload
 * never pulls a certificate from under a session). GNUTLS_E_* when none.
 */
gnutls_certificate_retrieve_function3 tls_retrieve;

#endif
