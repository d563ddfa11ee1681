-- name: customer_clusters
-- description: Each customer's named k-means cluster from the last segment run (the segment of a recommendation).
SELECT customer_id, cluster_name FROM customer_segments
