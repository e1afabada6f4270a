"""Reading WFDB-format records (PhysioNet), for dataset plugins: the public names of
:mod:`ssl_ecg.data.wfdb_io`.

``read_record(path)`` reads a record (``.hea`` + signal files, ``.mat`` included) in mV with its
leads and rate, refusing broken files with one line naming them; ``read_aami_beats`` reads a
beat annotation file as AAMI classes; ``record_keys`` lists the records under a folder (RECORDS
file or a recursive search); ``resolve_root`` / ``resolve_path`` read a recipe's relative paths
from the recipe's folder; ``files_identity`` fingerprints source files for the cache hash.
"""

from ssl_ecg.data.wfdb_io import (
    AAMI,
    AAMI_CLASSES,
    Header,
    WfdbRecord,
    aami_counts,
    files_identity,
    find_records,
    parse_comments,
    read_aami_beats,
    read_annotations,
    read_header,
    read_record,
    record_keys,
    resolve_path,
    resolve_root,
    select_keys,
)

__all__ = [
    "AAMI", "AAMI_CLASSES", "Header", "WfdbRecord", "aami_counts", "files_identity",
    "find_records", "parse_comments", "read_aami_beats", "read_annotations", "read_header",
    "read_record", "record_keys", "resolve_path", "resolve_root", "select_keys",
]  # fmt: skip
