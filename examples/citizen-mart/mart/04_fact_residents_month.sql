-- fact_residents_month: residents per postcode district at the start of each month the history
-- covers, read from the validity ranges: a version counts in a month when it was valid at the
-- month's first instant (valid_from <= start < valid_to, or still current). Months after the
-- newest extract are left out. Shared by PostgreSQL and SQLite.
DROP TABLE IF EXISTS fact_residents_month;
CREATE TABLE fact_residents_month AS
SELECT d.date_key, a.postcode_district, a.city, count(*) AS residents
FROM dim_date AS d
JOIN citizen_history AS h
  ON h.valid_from <= d.starts_at AND (h.valid_to IS NULL OR h.valid_to > d.starts_at)
JOIN dim_address AS a ON a.street = h.street AND a.postcode = h.postcode AND a.city = h.city
WHERE d.is_month_start
  AND d.starts_at <= (SELECT max(t) FROM (SELECT valid_from AS t FROM citizen_history
                                          UNION ALL SELECT valid_to FROM citizen_history) AS bounds)
GROUP BY d.date_key, a.postcode_district, a.city;
CREATE UNIQUE INDEX fact_residents_month_grain ON fact_residents_month (date_key, postcode_district);
