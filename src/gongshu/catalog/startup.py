"""Work the catalog does when a server starts: load the Chinese tokenizer in the background, so
the first search does not pay for it."""

from __future__ import annotations

from gongshu.catalog.search import text as catalog_text
from gongshu.core.runtime import Runtime


def on_start(runtime: Runtime) -> None:
    catalog_text.set_default_cache_dir(runtime.settings.resolved_data_dir / "cache")
    catalog_text.warm_up()
