"""What the CMS edit tables are: settings, indicator meanings, NCCI-associated modifiers, and the
FHIR identities under which the edits are published.

Facts from the CMS NCCI pages and the NCCI Policy Manual (chapter I): MUE adjudication indicator
1 is a claim-line edit, 2 and 3 are date-of-service edits (policy, clinical); a PTP edit's
modifier indicator 0 is never bypassed, 1 is bypassed by an NCCI-associated modifier on either
code of the pair, 9 means the edit does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping

MUE = "mue"
PTP = "ptp"

# Settings of the published tables; a claim's type picks one (institutional -> hospital).
MUE_SETTINGS = {
    "practitioner": "practitioner services",
    "outpatient-hospital": "outpatient hospital services",
    "dme": "DME supplier services",
}
PTP_SETTINGS = {
    "practitioner": "practitioner services",
    "hospital": "outpatient hospital services",
}
DEFAULT_SETTING = "practitioner"

MUE_INDICATORS = {
    1: "a claim-line edit: the units on one line",
    2: "a date-of-service edit (policy): all units of the code on one day",
    3: "a date-of-service edit (clinical): all units of the code on one day",
}
PTP_MODIFIER_INDICATORS = {
    0: "no modifier allows the pair",
    1: "an NCCI-associated modifier (such as 59, XE, XS, XP, XU or an anatomic modifier) "
       "allows the pair when the services were distinct",
    9: "the edit does not apply",
}
# NCCI Policy Manual, chapter I: the modifiers that may bypass a PTP edit with indicator 1.
NCCI_MODIFIERS = frozenset({
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",  # anatomic
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "RC",
    "LM", "RI",
    "24", "25", "57", "58", "78", "79",  # global surgery
    "27", "59", "91", "XE", "XS", "XP", "XU",  # other
})

PTP_MAP_URL = "urn:txserver:ConceptMap/cms-ptp-{setting}"
PTP_MAP_ID = "cms-ptp-{setting}"


def setting_for_claim_type(claim_type: str | None, settings: Mapping[str, str]) -> str:
    """The edit table for a FHIR Claim.type code: `institutional` claims use the hospital
    tables, every other kind (professional, and orders) the practitioner tables."""
    if claim_type == "institutional":
        for name in settings:
            if "hospital" in name:
                return name
    return DEFAULT_SETTING
