// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The CRL file of [node] crl, watched (seed 001 clause 8.4: a node the
 * controller revokes is cut off). The controller pushes a new CRL over Ck
 * (ck.c on_crl), but a KM without a controller connection at that moment,
 * or a CRL installed by hand (`qkdn-ctld revoke` on the CA host, the file
 * copied over), must take it too: the file is checked every
 * QKDN_CRL_WATCH_MS and on SIGHUP. A changed file is loaded into the TLS
 * contexts of Kx and Ck, and every established connection whose peer it
 * revokes is dropped: Kx neighbours (kmd_peers_drop_revoked()) and the
 * controller's (kmd_ck_drop_revoked()). A file that cannot be used is
 * logged and the CRL in use stays.
 */
#include <errno.h>

#include "kmd.h"
#include "log.h"
#include "tls.h"

void kmd_crl_check(struct kmd *kmd, const char *why)
{
	char err[400], q[450];
	X509_CRL *crl = NULL;
	int ret;

	if (!kmd->cfg.crl)
		return;
	ret = qkdn_crl_watch_poll(&kmd->crl_watch, &crl, err, sizeof(err));
	if (ret == 0)
		return;
	if (ret > 0) {
		const char *ck_ca = kmd->cfg.controller.ca ? kmd->cfg.controller.ca : kmd->cfg.ca;

		ret = qkdn_tls_ctx_set_crl(kmd->tls, kmd->cfg.ca, crl, err, sizeof(err));
		if (!ret && kmd->tls_ck)
			ret = qkdn_tls_ctx_set_crl(kmd->tls_ck, ck_ca, crl, err, sizeof(err));
		X509_CRL_free(crl);
	}
	if (ret < 0) {
		qkdn_log(QKDN_LOG_WARN, "CRL file not loaded; the previous CRL stays",
			 "event=crl-refused why=%s reason=%s", why, qkdn_log_quote(q, sizeof(q), err));
		return;
	}
	qkdn_log(QKDN_LOG_INFO, "CRL loaded", "event=crl-loaded source=file why=%s dropped=%u",
		 why, kmd_peers_drop_revoked(kmd) + kmd_ck_drop_revoked(kmd));
}

static void crl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kmd_crl_check(arg, "changed");
}

int kmd_crl_start(struct kmd *kmd)
{
	struct timeval tv = { QKDN_CRL_WATCH_MS / 1000, (QKDN_CRL_WATCH_MS % 1000) * 1000 };

	if (!kmd->cfg.crl)
		return 0;
	qkdn_crl_watch_init(&kmd->crl_watch, kmd->cfg.crl);
	kmd->crl_timer = event_new(kmd->base, -1, EV_PERSIST, crl_timer_cb, kmd);
	if (!kmd->crl_timer || event_add(kmd->crl_timer, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void kmd_crl_free(struct kmd *kmd)
{
	if (kmd->crl_timer)
		event_free(kmd->crl_timer);
	kmd->crl_timer = NULL;
}
