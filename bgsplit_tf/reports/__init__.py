"""The results pages under docs/ (and the README's figures), generated from the committed results.

Each page is Markdown written by hand around marked spans, `<!-- gen:NAME -->...<!-- /gen -->`, whose
contents a page's values function computes from the files a harness committed under benchmarks/results/
(ledgers, CSVs, JSON reports). `bgsplit-docs` rewrites the spans; `bgsplit-docs --check` and the tests
find a page whose spans differ from what its results give. So no figure in a page is copied by hand.
"""
