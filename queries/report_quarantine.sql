-- name: report_quarantine
-- description: Report: rows held back by the ETL's validation, per source and reason code (_quarantine).
--
-- Rows written before the reason_code column existed have their code at the start of reason
-- ("unknown_reference: …").
SELECT source, coalesce(reason_code, split_part(reason, ':', 1)) AS reason_code, count(*) AS rows
FROM _quarantine
GROUP BY source, coalesce(reason_code, split_part(reason, ':', 1))
ORDER BY rows DESC, source, reason_code
