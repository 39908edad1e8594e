/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_MAIN_H
#define _QKDN_MAIN_H

#include <linux/atomic.h>

/*
 * Every object the module allocates (links, applications, pool chunks,
 * keyring payloads) is counted, so tests can prove nothing outlives its
 * owner; the count is /sys/module/qkdn/parameters/objects.
 */
extern atomic_long_t qkdn_objects;

static inline void qkdn_objects_inc(void)
{
	atomic_long_inc(&qkdn_objects);
}

static inline void qkdn_objects_dec(void)
{
	atomic_long_dec(&qkdn_objects);
}

#endif /* _QKDN_MAIN_H */
