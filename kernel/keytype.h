/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_KEYTYPE_H
#define _QKDN_KEYTYPE_H

int qkdn_keytype_init(void);
void qkdn_keytype_uninit(void);

#endif /* _QKDN_KEYTYPE_H */
