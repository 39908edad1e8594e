# qkdn: the kernel module (kernel/qkdn.ko, built by Kbuild) and the userspace
# programs (userspace/, built into build/bin/).
#
#   make               the module and the userspace programs
#   make check         install what is missing, build, run the unit tests and
#                      the selftests in a VM; last line "N passed, N failed"
#   make demo          a whole QKD network in a VM (scripts/demo.sh)
#   make bench         key supply benchmark in a VM
#   make lint          checkpatch --strict and sparse on the module
#   make install       modules_install and the userspace programs
#
# KVER picks the kernel to build against (default: the newest one that has
# both headers and an image to boot, see scripts/kver.sh); KDIR overrides the
# build tree itself.

# Recursive (=), so that only targets that build the module look for a
# kernel: `make deps` must work on a machine that has none yet.
KVER ?= $(shell scripts/kver.sh)
KDIR ?= /lib/modules/$(KVER)/build
KBUILD = $(MAKE) -C $(KDIR) M=$(CURDIR)

check_kdir = $(if $(wildcard $(KDIR)/Makefile),,\
	$(error no kernel build tree at '$(KDIR)': run `make deps`, or set KVER or KDIR))

.PHONY: all module userspace selftests deps check demo bench lint clean module-clean install

all: module userspace selftests

module:
	$(check_kdir)
	$(KBUILD) modules

userspace:
	$(MAKE) -C userspace

# The C selftests that run in the VM (selftests/*_test.c).
selftests:
	$(MAKE) -C selftests

deps:
	scripts/install-deps.sh

# deps first, and alone: the build needs what it installs, even under -j.
check: deps
	$(MAKE) all
	scripts/check

demo: deps
	$(MAKE) all
	scripts/vm-run scripts/demo.sh

bench: deps
	$(MAKE) all
	scripts/vm-run scripts/bench-keysupply

# Our sources, not the *.mod.c that modpost generates next to them.
LINT_FILES = $(filter-out %.mod.c,$(wildcard kernel/*.[ch])) include/uapi/linux/qkdn.h

# checkpatch.pl comes from Debian's linux-source-6.1 (scripts/ksource.sh).
# -Wsparse-error makes a sparse warning fail the target.
lint:
	$(check_kdir)
	ksrc=$$(scripts/ksource.sh) && \
		$$ksrc/scripts/checkpatch.pl --strict --no-tree -f $(LINT_FILES)
	$(KBUILD) C=2 CHECK=sparse CF=-Wsparse-error modules

# Kbuild skips depmod when the headers have no System.map, as Debian's do.
install: all
	$(KBUILD) modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)
	$(MAKE) -C userspace install

module-clean:
	$(check_kdir)
	$(KBUILD) clean

clean: module-clean
	$(MAKE) -C userspace clean
	$(MAKE) -C selftests clean
	rm -rf build
