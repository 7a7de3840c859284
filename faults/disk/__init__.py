"""Disk faults: ``slow-disk`` (blkio throttle of the data volume's device) and
``lose-unfsynced`` (power loss through the lazyfs FUSE layer in the node image)."""
