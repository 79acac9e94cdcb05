# SPDX-License-Identifier: GPL-2.0-only
"""Test harness of the Gunyah donation pool: build, boot in QEMU, judge."""
