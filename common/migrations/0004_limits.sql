-- SPDX-License-Identifier: MIT
-- Migration 4: one set of limit names, and what enforces each limit.
-- Released, so frozen: never edit it (SHA256SUMS).
--
-- runner.limits: JSON object, limit name -> what enforces it on this host
-- ("cgroup memory.max", "rlimit RLIMIT_NOFILE", "none: ..."), decided by the
-- runner at start from the controllers its cgroup root has. The runner is
-- its only writer; NULL until a runner of this version has started.
ALTER TABLE runner ADD COLUMN limits TEXT;

-- Stored specs used the names nofile, nproc, fsize and cpu (CPU seconds);
-- the API names them open_files, processes, file_size and cpu_seconds, and
-- "cpu" now means cores. Every table that keeps a spec (projects, releases,
-- tasks) is rewritten: the old key goes, its value moves to the new name
-- unless that name already holds one. A spec that is not valid JSON is left
-- alone (the CASE keeps json_type from ever seeing it: it would raise).
UPDATE projects SET spec = json_set(json_remove(spec, '$.limits.nofile'), '$.limits.open_files',
	coalesce(json_extract(spec, '$.limits.open_files'), json_extract(spec, '$.limits.nofile')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nofile') END IS NOT NULL;
UPDATE projects SET spec = json_set(json_remove(spec, '$.limits.nproc'), '$.limits.processes',
	coalesce(json_extract(spec, '$.limits.processes'), json_extract(spec, '$.limits.nproc')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nproc') END IS NOT NULL;
UPDATE projects SET spec = json_set(json_remove(spec, '$.limits.fsize'), '$.limits.file_size',
	coalesce(json_extract(spec, '$.limits.file_size'), json_extract(spec, '$.limits.fsize')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.fsize') END IS NOT NULL;
UPDATE projects SET spec = json_set(json_remove(spec, '$.limits.cpu'), '$.limits.cpu_seconds',
	coalesce(json_extract(spec, '$.limits.cpu_seconds'), json_extract(spec, '$.limits.cpu')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.cpu') END IS NOT NULL;

UPDATE releases SET spec = json_set(json_remove(spec, '$.limits.nofile'), '$.limits.open_files',
	coalesce(json_extract(spec, '$.limits.open_files'), json_extract(spec, '$.limits.nofile')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nofile') END IS NOT NULL;
UPDATE releases SET spec = json_set(json_remove(spec, '$.limits.nproc'), '$.limits.processes',
	coalesce(json_extract(spec, '$.limits.processes'), json_extract(spec, '$.limits.nproc')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nproc') END IS NOT NULL;
UPDATE releases SET spec = json_set(json_remove(spec, '$.limits.fsize'), '$.limits.file_size',
	coalesce(json_extract(spec, '$.limits.file_size'), json_extract(spec, '$.limits.fsize')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.fsize') END IS NOT NULL;
UPDATE releases SET spec = json_set(json_remove(spec, '$.limits.cpu'), '$.limits.cpu_seconds',
	coalesce(json_extract(spec, '$.limits.cpu_seconds'), json_extract(spec, '$.limits.cpu')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.cpu') END IS NOT NULL;

UPDATE tasks SET spec = json_set(json_remove(spec, '$.limits.nofile'), '$.limits.open_files',
	coalesce(json_extract(spec, '$.limits.open_files'), json_extract(spec, '$.limits.nofile')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nofile') END IS NOT NULL;
UPDATE tasks SET spec = json_set(json_remove(spec, '$.limits.nproc'), '$.limits.processes',
	coalesce(json_extract(spec, '$.limits.processes'), json_extract(spec, '$.limits.nproc')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.nproc') END IS NOT NULL;
UPDATE tasks SET spec = json_set(json_remove(spec, '$.limits.fsize'), '$.limits.file_size',
	coalesce(json_extract(spec, '$.limits.file_size'), json_extract(spec, '$.limits.fsize')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.fsize') END IS NOT NULL;
UPDATE tasks SET spec = json_set(json_remove(spec, '$.limits.cpu'), '$.limits.cpu_seconds',
	coalesce(json_extract(spec, '$.limits.cpu_seconds'), json_extract(spec, '$.limits.cpu')))
	WHERE CASE WHEN json_valid(spec) THEN json_type(spec, '$.limits.cpu') END IS NOT NULL;
