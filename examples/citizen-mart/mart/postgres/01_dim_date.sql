-- dim_date: one row per day of the years the history covers.
-- starts_at is the day's first instant in the history's own type (timestamptz, UTC), so that the
-- shared mart files compare it with valid_from / valid_to the same way on PostgreSQL and SQLite.
DROP TABLE IF EXISTS fact_residents_month;
DROP TABLE IF EXISTS dim_date;
CREATE TABLE dim_date AS
SELECT CAST(to_char(d, 'YYYYMMDD') AS integer) AS date_key,
       CAST(d AS date) AS date,
       CAST(d AS timestamp) AT TIME ZONE 'UTC' AS starts_at,
       CAST(extract(year FROM d) AS integer) AS year,
       CAST(extract(quarter FROM d) AS integer) AS quarter,
       CAST(extract(month FROM d) AS integer) AS month,
       to_char(d, 'FMMonth') AS month_name,
       CAST(extract(day FROM d) AS integer) AS day,
       extract(day FROM d) = 1 AS is_month_start
FROM generate_series(
       (SELECT date_trunc('year', min(valid_from) AT TIME ZONE 'UTC') FROM citizen_history),
       (SELECT date_trunc('year', max(valid_from) AT TIME ZONE 'UTC') + interval '1 year - 1 day' FROM citizen_history),
       interval '1 day') AS d;
ALTER TABLE dim_date ADD PRIMARY KEY (date_key);
