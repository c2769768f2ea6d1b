-- dim_date: one row per day of the years the history covers.
-- starts_at is the day's first instant as SQLite's history stores date-times ('yyyy-MM-dd HH:mm:ss',
-- UTC), so that the shared mart files compare it with valid_from / valid_to as on PostgreSQL.
DROP TABLE IF EXISTS fact_residents_month;
DROP TABLE IF EXISTS dim_date;
CREATE TABLE dim_date (
  date_key integer PRIMARY KEY, date text NOT NULL, starts_at text NOT NULL, year integer NOT NULL,
  quarter integer NOT NULL, month integer NOT NULL, month_name text NOT NULL, day integer NOT NULL,
  is_month_start integer NOT NULL);
WITH RECURSIVE days(d) AS (
  SELECT date(min(valid_from), 'start of year') FROM citizen_history
  UNION ALL
  SELECT date(d, '+1 day') FROM days
  WHERE d < (SELECT date(max(valid_from), 'start of year', '+1 year', '-1 day') FROM citizen_history))
INSERT INTO dim_date
SELECT CAST(strftime('%Y%m%d', d) AS integer), d, d || ' 00:00:00',
       CAST(strftime('%Y', d) AS integer), (CAST(strftime('%m', d) AS integer) + 2) / 3,
       CAST(strftime('%m', d) AS integer),
       CASE strftime('%m', d) WHEN '01' THEN 'January' WHEN '02' THEN 'February' WHEN '03' THEN 'March'
         WHEN '04' THEN 'April' WHEN '05' THEN 'May' WHEN '06' THEN 'June' WHEN '07' THEN 'July'
         WHEN '08' THEN 'August' WHEN '09' THEN 'September' WHEN '10' THEN 'October'
         WHEN '11' THEN 'November' ELSE 'December' END,
       CAST(strftime('%d', d) AS integer), strftime('%d', d) = '01'
FROM days
WHERE d IS NOT NULL;
