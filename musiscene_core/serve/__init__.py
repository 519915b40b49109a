"""`musiscene serve`: the HTTP API and web page over one or more scene indexes (needs the `serve` extra).

app = create_app(registry, token=..., endpoint_url=...)   # a FastAPI app; run it with uvicorn
"""

from musiscene_core.serve.app import create_app
from musiscene_core.serve.catalogs import CatalogRegistry, parse_index_option

__all__ = ["CatalogRegistry", "create_app", "parse_index_option"]
