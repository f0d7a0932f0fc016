"""CMS claim edits: medically unlikely edits (MUE), procedure-to-procedure edits (PTP), and the
claim-edit checkers (add-on codes, MUE, PTP) that `$validate` runs over the lines of a resource."""
