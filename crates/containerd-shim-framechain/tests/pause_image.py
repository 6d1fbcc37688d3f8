#!/usr/bin/env python3
"""Writes an OCI image-layout tarball holding one static binary as /pause.

Usage: pause_image.py BINARY OUTPUT.tar IMAGE_NAME

The CRI test needs a pod sandbox ("pause") image and cannot pull one, so it
makes one: a single uncompressed tar layer, entrypoint /pause, linux/amd64.
"""
import hashlib
import io
import json
import sys
import tarfile


def tar_bytes(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main():
    binary, output, name = sys.argv[1:4]
    with open(binary, "rb") as file:
        pause = file.read()
    layer = tar_bytes([("pause", pause, 0o755)])
    blobs = {}

    def blob(media_type, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    layer_descriptor = blob("application/vnd.oci.image.layer.v1.tar", layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_descriptor["digest"]]},
    }
    config_descriptor = blob("application/vnd.oci.image.config.v1+json", json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_descriptor,
        "layers": [layer_descriptor],
    }
    manifest_bytes = json.dumps(manifest).encode()
    manifest_descriptor = blob("application/vnd.oci.image.manifest.v1+json", manifest_bytes)
    manifest_descriptor["annotations"] = {
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
    }
    index = {"schemaVersion": 2, "manifests": [manifest_descriptor]}
    entries = [
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), 0o644),
        ("index.json", json.dumps(index).encode(), 0o644),
    ]
    entries += [("blobs/sha256/" + d.split(":")[1], data, 0o644) for d, data in blobs.items()]
    with open(output, "wb") as file:
        file.write(tar_bytes(entries))


if __name__ == "__main__":
    main()
