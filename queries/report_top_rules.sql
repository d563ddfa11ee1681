-- name: report_top_rules
-- description: Report: the strongest association rules by lift (basket_rules).
-- param: limit int = 10 | rules listed
SELECT rule_id, antecedent, consequent, support, confidence, lift, rule_count
FROM basket_rules
ORDER BY rule_id
LIMIT $limit
