"""What several operations share: finding the provider a request addresses."""

from __future__ import annotations

from terminology.errors import InvalidRequest, NotFound
from terminology.provider import CodeSystemProvider, Registry


def provider_for(
    registry: Registry,
    *,
    system: str | None,
    version: str | None,
    on_date: str | None,
    instance_id: str | None,
    system_param: str = "system",
) -> CodeSystemProvider:
    """The provider for an instance-level call (`CodeSystem/{id}/$op`) or a type-level one."""
    if instance_id is not None:
        provider = registry.by_id(instance_id)
        if provider is None:
            raise NotFound(f"CodeSystem/{instance_id} not found", message_id="RESOURCE_NOT_FOUND")
        if system and system != provider.canonical.url:
            raise InvalidRequest(
                f"The {system_param} '{system}' does not match CodeSystem/{instance_id}, "
                f"whose url is '{provider.canonical.url}'",
                expression=system_param,
            )
        if version and version != provider.canonical.version:
            raise InvalidRequest(
                f"The version '{version}' does not match CodeSystem/{instance_id}, which is "
                f"version '{provider.canonical.version}'",
                expression="version",
            )
        return provider
    if not system:
        raise InvalidRequest(f"A {system_param} is required", expression=system_param)
    return registry.resolve(system, version, on_date)
