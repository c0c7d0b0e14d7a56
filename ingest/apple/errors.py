"""Why an archive is refused: one exception, a stable code per reason (README "Apple Health import")."""

from __future__ import annotations

from healthexport.lib.errors import ApiError

# code → what it means; the codes are part of the API (GET /v1/imports/<id> "error.code").
REFUSALS = {
    "not_a_zip": "the upload is not a zip archive (nor a bare export.xml)",
    "not_health_export": "no Apple Health export.xml was found in it",
    "several_health_exports": "it holds more than one Apple Health export.xml",
    "unsafe_entry": "an entry has an absolute path, a '..' component, a NUL or is a symlink",
    "duplicate_entry": "two entries have the same name",
    "encrypted_entry": "an entry is encrypted",
    "unsupported_compression": "an entry uses a compression other than stored or deflate",
    "zip_bomb": "an entry inflates far more than any export does, or more than the size cap",
    "too_many_entries": "the archive has more entries than any export",
    "xml_entities": "the XML declares entities (none are allowed: no expansion, no external ones)",
    "invalid_xml": "the XML is not well-formed",
    "element_too_large": "an XML element is larger than any export has",
}


class ImportRefused(ApiError):
    """The archive cannot be imported: nothing of it is stored."""

    status_code = 400
    code = "invalid_archive"

    def __init__(self, code: str, message: str):
        assert code in REFUSALS, code
        super().__init__(message)
        self.code = code
