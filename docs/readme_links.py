"""MkDocs hook: the guide (docs/index.md) is the README, with its links made site-relative.

The README links to documentation pages from the repository root (`docs/flow.md`); on the
site the guide sits in `docs/`, so there those links lose their `docs/` prefix. The links
are rewritten before the page is converted, so a strict build still checks every one.
"""

import re
from pathlib import Path

INCLUDE = '--8<-- "README.md"'
DOCS_LINK = re.compile(r"\]\(docs/")


def on_page_markdown(markdown, page, config, **kwargs):
    if page.file.src_uri != "index.md" or INCLUDE not in markdown:
        return markdown
    readme = Path(config.config_file_path).parent / "README.md"
    return markdown.replace(INCLUDE, DOCS_LINK.sub("](", readme.read_text(encoding="utf-8")))
