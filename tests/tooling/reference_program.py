"""The reference program on its own, for the tooling tests: the reference
policy and the event schemas it imports. policies/ also holds the policy
library, whose declarations are a program of their own, so the folder as a
whole is not one program."""
import os, shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHIPPED = os.path.join(ROOT, "policies")


def reference_folder(work):
    """Copies the reference program into work/reference-program; returns that folder."""
    folder = os.path.join(work, "reference-program")
    os.makedirs(os.path.join(folder, "common"))
    shutil.copy(os.path.join(SHIPPED, "reference.edict"), folder)
    shutil.copy(os.path.join(SHIPPED, "common", "events.edict"), os.path.join(folder, "common"))
    return folder
