"""MkDocs hook of the documentation site (mkdocs.yml): each page's
``<!-- neurosim-command: NAME -->`` lines become the reference of ``neurosim NAME``, generated from
its argparse parser by :mod:`neurosim.cliref`."""

from neurosim.cliref import expand_markers


def on_page_markdown(markdown, page, config, files):
    return expand_markers(markdown)
