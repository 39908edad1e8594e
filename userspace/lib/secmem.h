/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Memory for key bytes in userspace.
 *
 * A secbuf is its own anonymous mapping: mlock()ed so it never reaches swap,
 * MADV_DONTDUMP so it never reaches a core dump, MADV_WIPEONFORK so a child
 * does not inherit it, and wiped with explicit_bzero() when freed. Live
 * secbufs are also wiped at exit(), so qkdn_die() on an error path leaves no
 * key bytes behind. Secbufs never share a page with other data.
 */
#ifndef QKDN_SECMEM_H
#define QKDN_SECMEM_H

#include <stddef.h>

/* Returns zeroed, locked memory of len bytes (len > 0), or NULL with errno
 * set (ENOMEM/EPERM when mlock() is refused, e.g. by RLIMIT_MEMLOCK). */
void *qkdn_secbuf_alloc(size_t len);
/* Wipes and releases; NULL is a no-op. */
void qkdn_secbuf_free(void *buf);
/* The usable length given at allocation. */
size_t qkdn_secbuf_len(const void *buf);

/* Makes the process non-dumpable (no core dumps, no ptrace by the same uid,
 * /proc/PID/mem closed) and sets RLIMIT_CORE to 0. Returns 0 or -errno. */
int qkdn_harden_process(void);

#endif
