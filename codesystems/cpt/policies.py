"""What CPT itself says about using a code, in words for its web page ("Medical policies and
guidelines"): whether it is on the Appendix P list of codes that may be reported with modifier 95
(synchronous telemedicine), in the CPT year shown."""

from __future__ import annotations

from codesystems.cpt import definition as cpt
from terminology.model import Concept, Policy
from terminology.provider import Registry


class CptPolicies:
    """CPT's own facts of a code as policies (what ui.install is given)."""

    covers = frozenset({"telemedicine"})

    def policies(self, registry: Registry, system: str, concept: Concept, version: str | None,
                 on_date: str) -> list[Policy]:
        if system != cpt.URL or concept.expression:
            return []
        flags = [p.value for p in concept.properties if p.code == "telemedicine"]
        if not flags:  # the release had no Appendix P list: nothing is known
            return []
        year = f"CPT {version}" if version else "CPT"
        start = cpt.start_of(version or "")
        in_force = f"{year}, in force from {start}" if start else year
        summary = ("Telemedicine: listed in Appendix P, so it may be reported with modifier 95 "
                   "(a synchronous telemedicine service)" if flags[0] is True else
                   "Telemedicine: not listed in Appendix P, so modifier 95 may not be added")
        return [Policy("Telemedicine", summary + ".", source=f"{year}, Appendix P",
                       in_force=in_force)]
