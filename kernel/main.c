// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn: key manager of a quantum key distribution network node.
 */

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <net/genetlink.h>

#include "ak.h"
#include "keytype.h"
#include "main.h"
#include "netlink.h"
#include "node.h"

atomic_long_t qkdn_objects = ATOMIC_LONG_INIT(0);

static int objects_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%ld\n", atomic_long_read(&qkdn_objects));
}

static const struct kernel_param_ops objects_ops = {
	.get = objects_get,
};

module_param_cb(objects, &objects_ops, NULL, 0444);
MODULE_PARM_DESC(objects, "objects allocated by the module and not yet freed");

static int __init qkdn_init(void)
{
	int ret;

	ret = qkdn_node_register();
	if (ret)
		return ret;
	ret = qkdn_ak_init();
	if (ret)
		goto err_node;
	ret = qkdn_keytype_init();
	if (ret)
		goto err_ak;
	ret = qkdn_netlink_init();
	if (ret)
		goto err_keytype;
	pr_info("QKD network key manager loaded\n");
	return 0;

err_keytype:
	qkdn_keytype_uninit();
err_ak:
	qkdn_ak_uninit();
err_node:
	qkdn_node_unregister();
	return ret;
}

static void __exit qkdn_exit(void)
{
	long left;

	qkdn_netlink_uninit();
	qkdn_keytype_uninit();
	qkdn_ak_uninit();
	qkdn_node_unregister();
	left = atomic_long_read(&qkdn_objects);
	if (left)
		pr_err("%ld objects leaked\n", left);
}

module_init(qkdn_init);
module_exit(qkdn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Key manager of a quantum key distribution network node");
MODULE_AUTHOR("The qkdn developers");
MODULE_ALIAS_GENL_FAMILY(QKDN_GENL_NAME);
