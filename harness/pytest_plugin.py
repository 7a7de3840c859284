"""floodmark's pytest plugin (entry point ``pytest11``): chaos scenarios as pytest tests.

Fixtures are added here as the harness grows; see README "pytest plugin".
"""

from __future__ import annotations
