-- dim_citizen: one row per citizen, from the current version of the history, or, for someone who
-- has left, the last version (is_resident false). resident_since is the start of the citizen's
-- first version. Shared by PostgreSQL and SQLite.
DROP TABLE IF EXISTS dim_citizen;
CREATE TABLE dim_citizen AS
SELECT row_number() OVER (ORDER BY v.citizen_id) AS citizen_key,
       v.citizen_id, v.title, v.name, v.date_of_birth, v.phone, v.email, v.uprn,
       a.address_key, v.is_current AS is_resident, f.first_from AS resident_since, v.valid_to AS left_at
FROM (SELECT h.*, row_number() OVER (PARTITION BY citizen_id ORDER BY valid_from DESC) AS newest
      FROM citizen_history AS h) AS v
JOIN dim_address AS a ON a.street = v.street AND a.postcode = v.postcode AND a.city = v.city
JOIN (SELECT citizen_id, min(valid_from) AS first_from FROM citizen_history GROUP BY citizen_id) AS f
  ON f.citizen_id = v.citizen_id
WHERE v.newest = 1;
CREATE UNIQUE INDEX dim_citizen_id ON dim_citizen (citizen_id);
