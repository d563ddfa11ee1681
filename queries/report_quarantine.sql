-- name: report_quarantine
-- description: Report: rows held back by the ETL's validation, per source and reason code (_quarantine).
--
-- The reason column starts with its code ("unknown_reference: …"); the code is what is counted.
SELECT source, split_part(reason, ':', 1) AS reason, count(*) AS rows
FROM _quarantine
GROUP BY source, split_part(reason, ':', 1)
ORDER BY rows DESC, source, reason
