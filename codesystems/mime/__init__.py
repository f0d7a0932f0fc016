"""MIME types (`urn:ietf:bcp:13`): media types checked by the grammar of RFC 6838 and RFC 2045."""
