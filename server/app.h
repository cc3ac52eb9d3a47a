/* What every handler can reach: the store, the reconciler, the token. */
#ifndef VR_APP_H
#define VR_APP_H

#include <pthread.h>
#include <stdint.h>

struct store;
struct recon;

#define TOKEN_MAX 256

struct app {
	struct store *store;	 /* guarded by store_lock */
	pthread_mutex_t store_lock;
	struct recon *recon;	 /* NULL in tests that run without a kernel */
	char token[TOKEN_MAX];	 /* bearer token; never logged */
	uint16_t listen_port;	 /* the API's own port (anti-lockout) */
	int apply_timeout_ms;	 /* how long a write waits for its apply */
};

#endif
