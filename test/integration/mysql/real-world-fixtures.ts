/**
 * Schemas modelled on well-known public sample databases (sakila, employees) and on patterns seen
 * in production MySQL/MariaDB databases, written from scratch for the real-world round-trip test.
 * Each is one multi-statement script for a root connection (mysql2 with multipleStatements; the
 * server parses compound BEGIN … END bodies itself, so no DELIMITER is needed).
 *
 * DEFINER `app_owner`@`%` owns some objects and is dropped at the end (DROP_OWNER): objects whose
 * definer no longer exists are common in real databases, and are what a dump from another server
 * looks like on the target.
 */

/** Like String.raw, but \` gives a backtick (a template literal cannot hold one otherwise). */
function sql(strings: TemplateStringsArray): string {
  return strings.raw.join('').replace(/\\`/g, '`');
}

/** sakila-like: ENUM/SET/YEAR, FULLTEXT, SPATIAL, triggers, views, routines with cursors, an FK cycle. */
export const SAKILA = sql`
SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
SET SESSION FOREIGN_KEY_CHECKS = 0;
CREATE USER IF NOT EXISTS 'app_owner'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'app_owner'@'%';
CREATE DATABASE sakila CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
USE sakila;
CREATE TABLE language (
  language_id TINYINT UNSIGNED NOT NULL AUTO_INCREMENT, name CHAR(20) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, PRIMARY KEY (language_id)
) ENGINE=InnoDB;
CREATE TABLE actor (
  actor_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, first_name VARCHAR(45) NOT NULL, last_name VARCHAR(45) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (actor_id), KEY idx_actor_last_name (last_name)
);
CREATE TABLE film (
  film_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, title VARCHAR(128) NOT NULL, description TEXT DEFAULT NULL,
  release_year YEAR DEFAULT NULL, language_id TINYINT UNSIGNED NOT NULL, original_language_id TINYINT UNSIGNED DEFAULT NULL,
  rental_duration TINYINT UNSIGNED NOT NULL DEFAULT 3, rental_rate DECIMAL(4,2) NOT NULL DEFAULT 4.99,
  length SMALLINT UNSIGNED DEFAULT NULL, replacement_cost DECIMAL(5,2) NOT NULL DEFAULT 19.99,
  rating ENUM('G','PG','PG-13','R','NC-17') DEFAULT 'G',
  special_features SET('Trailers','Commentaries','Deleted Scenes','Behind the Scenes') DEFAULT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (film_id), KEY idx_title (title), KEY idx_fk_language_id (language_id), KEY idx_fk_original_language_id (original_language_id),
  CONSTRAINT fk_film_language FOREIGN KEY (language_id) REFERENCES language (language_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_film_language_original FOREIGN KEY (original_language_id) REFERENCES language (language_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE film_actor (
  actor_id SMALLINT UNSIGNED NOT NULL, film_id SMALLINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (actor_id, film_id), KEY idx_fk_film_id (film_id),
  CONSTRAINT fk_film_actor_actor FOREIGN KEY (actor_id) REFERENCES actor (actor_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_film_actor_film FOREIGN KEY (film_id) REFERENCES film (film_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE film_text (
  film_id SMALLINT NOT NULL, title VARCHAR(255) NOT NULL, description TEXT,
  PRIMARY KEY (film_id), FULLTEXT KEY idx_title_description (title, description)
);
CREATE TABLE country (
  country_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, country VARCHAR(50) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, PRIMARY KEY (country_id)
);
CREATE TABLE city (
  city_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, city VARCHAR(50) NOT NULL, country_id SMALLINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (city_id), KEY idx_fk_country_id (country_id),
  CONSTRAINT fk_city_country FOREIGN KEY (country_id) REFERENCES country (country_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE address (
  address_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, address VARCHAR(50) NOT NULL, address2 VARCHAR(50) DEFAULT NULL,
  district VARCHAR(20) NOT NULL, city_id SMALLINT UNSIGNED NOT NULL, postal_code VARCHAR(10) DEFAULT NULL, phone VARCHAR(20) NOT NULL,
  location GEOMETRY NOT NULL, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (address_id), KEY idx_fk_city_id (city_id), SPATIAL KEY idx_location (location),
  CONSTRAINT fk_address_city FOREIGN KEY (city_id) REFERENCES city (city_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE store (
  store_id TINYINT UNSIGNED NOT NULL AUTO_INCREMENT, manager_staff_id TINYINT UNSIGNED NOT NULL, address_id SMALLINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (store_id), UNIQUE KEY idx_unique_manager (manager_staff_id), KEY idx_fk_address_id (address_id),
  CONSTRAINT fk_store_staff FOREIGN KEY (manager_staff_id) REFERENCES staff (staff_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_store_address FOREIGN KEY (address_id) REFERENCES address (address_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE staff (
  staff_id TINYINT UNSIGNED NOT NULL AUTO_INCREMENT, first_name VARCHAR(45) NOT NULL, last_name VARCHAR(45) NOT NULL,
  address_id SMALLINT UNSIGNED NOT NULL, picture BLOB DEFAULT NULL, email VARCHAR(50) DEFAULT NULL, store_id TINYINT UNSIGNED NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE, username VARCHAR(16) NOT NULL, password VARCHAR(40) BINARY DEFAULT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (staff_id), KEY idx_fk_store_id (store_id), KEY idx_fk_address_id (address_id),
  CONSTRAINT fk_staff_store FOREIGN KEY (store_id) REFERENCES store (store_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_staff_address FOREIGN KEY (address_id) REFERENCES address (address_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE customer (
  customer_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, store_id TINYINT UNSIGNED NOT NULL, first_name VARCHAR(45) NOT NULL,
  last_name VARCHAR(45) NOT NULL, email VARCHAR(50) DEFAULT NULL, address_id SMALLINT UNSIGNED NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE, create_date DATETIME NOT NULL, last_update TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (customer_id), KEY idx_fk_store_id (store_id), KEY idx_fk_address_id (address_id), KEY idx_last_name (last_name),
  CONSTRAINT fk_customer_address FOREIGN KEY (address_id) REFERENCES address (address_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_customer_store FOREIGN KEY (store_id) REFERENCES store (store_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE inventory (
  inventory_id MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT, film_id SMALLINT UNSIGNED NOT NULL, store_id TINYINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (inventory_id), KEY idx_fk_film_id (film_id), KEY idx_store_id_film_id (store_id, film_id),
  CONSTRAINT fk_inventory_store FOREIGN KEY (store_id) REFERENCES store (store_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_inventory_film FOREIGN KEY (film_id) REFERENCES film (film_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE rental (
  rental_id INT NOT NULL AUTO_INCREMENT, rental_date DATETIME NOT NULL, inventory_id MEDIUMINT UNSIGNED NOT NULL,
  customer_id SMALLINT UNSIGNED NOT NULL, return_date DATETIME DEFAULT NULL, staff_id TINYINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (rental_id), UNIQUE KEY (rental_date, inventory_id, customer_id), KEY idx_fk_inventory_id (inventory_id),
  KEY idx_fk_customer_id (customer_id), KEY idx_fk_staff_id (staff_id),
  CONSTRAINT fk_rental_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_rental_inventory FOREIGN KEY (inventory_id) REFERENCES inventory (inventory_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_rental_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE payment (
  payment_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, customer_id SMALLINT UNSIGNED NOT NULL, staff_id TINYINT UNSIGNED NOT NULL,
  rental_id INT DEFAULT NULL, amount DECIMAL(5,2) NOT NULL, payment_date DATETIME NOT NULL,
  last_update TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (payment_id), KEY idx_fk_staff_id (staff_id), KEY idx_fk_customer_id (customer_id),
  CONSTRAINT fk_payment_rental FOREIGN KEY (rental_id) REFERENCES rental (rental_id) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT fk_payment_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id) ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT fk_payment_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id) ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TRIGGER ins_film AFTER INSERT ON film FOR EACH ROW BEGIN
    INSERT INTO film_text (film_id, title, description) VALUES (new.film_id, new.title, new.description);
  END;
CREATE TRIGGER upd_film AFTER UPDATE ON film FOR EACH ROW BEGIN
    IF (old.title != new.title) OR (old.description != new.description) OR (old.film_id != new.film_id) THEN
      UPDATE film_text SET title = new.title, description = new.description, film_id = new.film_id WHERE film_id = old.film_id;
    END IF;
  END;
CREATE TRIGGER del_film AFTER DELETE ON film FOR EACH ROW BEGIN
    DELETE FROM film_text WHERE film_id = old.film_id;
  END;
CREATE DEFINER = 'app_owner'@'%' TRIGGER customer_create_date BEFORE INSERT ON customer FOR EACH ROW SET NEW.create_date = NOW();
CREATE DEFINER = CURRENT_USER TRIGGER \`sakila\`.\`film_actor_touch\` BEFORE UPDATE ON \`sakila\`.\`film_actor\` FOR EACH ROW
  SET NEW.last_update = NOW();
SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES';
CREATE TRIGGER "sakila"."country_touch" BEFORE UPDATE ON "sakila"."country" FOR EACH ROW SET NEW.last_update = NOW();
SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
CREATE TRIGGER payment_date BEFORE INSERT ON payment FOR EACH ROW
  SET NEW.payment_date = COALESCE(NEW.payment_date, (SELECT MAX(r.rental_date) FROM sakila.rental r));

INSERT INTO language (language_id, name, last_update) VALUES (1,'English','2006-02-15 05:02:19'), (2,'Italian','2006-02-15 05:02:19'),
  (3,'Japanese','2006-02-15 05:02:19'), (4,'Mandarin','2006-02-15 05:02:19'), (5,'French','2006-02-15 05:02:19'), (6,'German','2006-02-15 05:02:19');
INSERT INTO actor (actor_id, first_name, last_name, last_update)
  SELECT seq, CONCAT('FIRST', seq), ELT(1 + seq % 5, 'GUINESS', 'WAHLBERG', 'CHASE', 'DAVIS', 'LOLLOBRIGIDA'), '2006-02-15 04:34:33' FROM seq_1_to_200;
INSERT INTO film (film_id, title, description, release_year, language_id, original_language_id, rental_duration, rental_rate, length,
                  replacement_cost, rating, special_features, last_update)
  SELECT seq, CONCAT('FILM TITLE ', seq), CONCAT('A Epic Drama of a Feminist And a Mad Scientist who must Battle a Teacher in The Canadian Rockies #', seq),
         2006, 1 + seq % 6, IF(seq % 7 = 0, 2, NULL), 3 + seq % 5, ELT(1 + seq % 3, 0.99, 2.99, 4.99), 46 + seq % 140, 9.99 + seq % 21,
         ELT(1 + seq % 5, 'G','PG','PG-13','R','NC-17'), IF(seq % 9 = 0, NULL, MAKE_SET(seq % 16, 'Trailers','Commentaries','Deleted Scenes','Behind the Scenes')),
         '2006-02-15 05:03:42'
    FROM seq_1_to_1000;
INSERT INTO film_actor (actor_id, film_id, last_update) SELECT 1 + (seq * 7) % 200, 1 + seq % 1000, '2006-02-15 05:05:03' FROM seq_0_to_5461
  ON DUPLICATE KEY UPDATE last_update = VALUES(last_update);
INSERT INTO country (country_id, country, last_update) SELECT seq, CONCAT('Country ', seq), '2006-02-15 04:44:00' FROM seq_1_to_109;
INSERT INTO country (country, last_update) VALUES ('Côte d’Ivoire', '2006-02-15 04:44:00'), ('Réunion', '2006-02-15 04:44:00');
INSERT INTO city (city_id, city, country_id, last_update) SELECT seq, CONCAT('City ', seq, IF(seq % 50 = 0, ' São Tomé', '')), 1 + seq % 111, '2006-02-15 04:45:25' FROM seq_1_to_600;
INSERT INTO address (address_id, address, address2, district, city_id, postal_code, phone, location, last_update)
  SELECT seq, CONCAT(seq, ' Main Street'), IF(seq % 4 = 0, '', NULL), 'District', 1 + seq % 600, LPAD(seq * 37 % 99999, 5, '0'),
         CONCAT('+1 555 ', seq), POINT(-180 + (seq * 0.6), -90 + (seq * 0.3) % 180), '2014-09-25 22:30:27'
    FROM seq_1_to_603;
INSERT INTO store VALUES (1, 1, 1, '2006-02-15 04:57:12'), (2, 2, 2, '2006-02-15 04:57:12');
INSERT INTO staff VALUES
  (1, 'Mike', 'Hillyer', 3, 0x89504E470D0A1A0A0000000D494844520000000100000001080600000000, 'Mike.Hillyer@sakilastaff.com', 1, 1, 'Mike', '8cb2237d0679ca88db6464eac60da96345513964', '2006-02-15 03:57:16'),
  (2, 'Jon', 'Stephens', 4, NULL, 'Jon.Stephens@sakilastaff.com', 2, 1, 'Jon', '8cb2237d0679ca88db6464eac60da96345513964', '2006-02-15 03:57:16');
INSERT INTO customer (customer_id, store_id, first_name, last_name, email, address_id, active, create_date, last_update)
  SELECT seq, 1 + seq % 2, CONCAT('CUST', seq), CONCAT('LAST', seq % 97), CONCAT('cust', seq, '@sakilacustomer.org'), 5 + seq % 598,
         seq % 30 <> 0, '2006-02-14 22:04:36', '2006-02-15 04:57:20'
    FROM seq_1_to_599;
INSERT INTO inventory (inventory_id, film_id, store_id, last_update) SELECT seq, 1 + seq % 1000, 1 + seq % 2, '2006-02-15 05:09:17' FROM seq_1_to_4581;
INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id, last_update)
  SELECT seq, '2005-05-24 22:53:30' + INTERVAL seq * 17 MINUTE, 1 + seq % 4581, 1 + seq % 599,
         IF(seq % 90 = 0, NULL, '2005-05-26 22:04:30' + INTERVAL seq * 17 MINUTE), 1 + seq % 2, '2006-02-15 21:30:53'
    FROM seq_1_to_16044;
INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date, last_update)
  SELECT seq, 1 + seq % 599, 1 + seq % 2, IF(seq % 500 = 0, NULL, seq), ELT(1 + seq % 4, 2.99, 0.99, 5.99, 9.99),
         '2005-05-25 11:30:37' + INTERVAL seq * 17 MINUTE, '2006-02-15 22:12:30'
    FROM seq_1_to_16049;
ALTER TABLE rental AUTO_INCREMENT = 16050;

CREATE DEFINER = 'app_owner'@'%' SQL SECURITY INVOKER VIEW actor_info AS
  SELECT a.actor_id, a.first_name, a.last_name, GROUP_CONCAT(DISTINCT f.title ORDER BY f.title SEPARATOR ', ') AS film_info
    FROM actor a LEFT JOIN film_actor fa ON fa.actor_id = a.actor_id LEFT JOIN film f ON f.film_id = fa.film_id
   GROUP BY a.actor_id, a.first_name, a.last_name;
CREATE ALGORITHM = MERGE SQL SECURITY DEFINER VIEW customer_list AS
  SELECT cu.customer_id AS ID, CONCAT(cu.first_name, _utf8mb4' ', cu.last_name) AS name, a.address AS address,
         a.postal_code AS \`zip code\`, a.phone AS phone, city.city AS city, country.country AS country,
         IF(cu.active, _utf8mb4'active', _utf8mb4'') AS notes, cu.store_id AS SID
    FROM customer cu JOIN address a ON cu.address_id = a.address_id JOIN city ON a.city_id = city.city_id
    JOIN country ON city.country_id = country.country_id;
CREATE ALGORITHM = TEMPTABLE VIEW sales_by_store AS
  SELECT CONCAT(c.city, _utf8mb4',', cy.country) AS store, s.store_id, SUM(p.amount) AS total_sales
    FROM payment p INNER JOIN rental r ON p.rental_id = r.rental_id INNER JOIN inventory i ON r.inventory_id = i.inventory_id
    INNER JOIN store s ON i.store_id = s.store_id INNER JOIN address a ON s.address_id = a.address_id
    INNER JOIN city c ON a.city_id = c.city_id INNER JOIN country cy ON c.country_id = cy.country_id
   GROUP BY s.store_id ORDER BY cy.country, c.city;
CREATE VIEW cheap_films AS SELECT film_id, title, rental_rate FROM film WHERE rental_rate < 3 WITH CASCADED CHECK OPTION;
CREATE VIEW cheap_pg_films AS SELECT film_id, title FROM cheap_films WHERE film_id > 10 WITH LOCAL CHECK OPTION;

CREATE FUNCTION get_customer_balance(p_customer_id INT, p_effective_date DATETIME) RETURNS DECIMAL(5,2)
  DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_rentfees DECIMAL(5,2);
  DECLARE v_payments DECIMAL(5,2);
  SELECT IFNULL(SUM(f.rental_rate), 0) INTO v_rentfees FROM film f, inventory i, rental r
   WHERE f.film_id = i.film_id AND i.inventory_id = r.inventory_id AND r.rental_date <= p_effective_date AND r.customer_id = p_customer_id;
  SELECT IFNULL(SUM(p.amount), 0) INTO v_payments FROM payment p WHERE p.payment_date <= p_effective_date AND p.customer_id = p_customer_id;
  RETURN v_rentfees - v_payments;
END;
CREATE FUNCTION inventory_in_stock(p_inventory_id INT) RETURNS BOOLEAN READS SQL DATA
BEGIN
  DECLARE v_rentals INT;
  DECLARE v_out INT;
  SELECT COUNT(*) INTO v_rentals FROM rental WHERE inventory_id = p_inventory_id;
  IF v_rentals = 0 THEN RETURN TRUE; END IF;
  SELECT COUNT(rental_id) INTO v_out FROM inventory LEFT JOIN rental USING (inventory_id)
   WHERE inventory.inventory_id = p_inventory_id AND rental.return_date IS NULL;
  RETURN v_out = 0;
END;
CREATE PROCEDURE film_in_stock(IN p_film_id INT, IN p_store_id INT, OUT p_film_count INT) READS SQL DATA
BEGIN
  SELECT inventory_id FROM inventory WHERE film_id = p_film_id AND store_id = p_store_id AND inventory_in_stock(inventory_id);
  SELECT COUNT(*) FROM inventory WHERE film_id = p_film_id AND store_id = p_store_id AND inventory_in_stock(inventory_id) INTO p_film_count;
END;
CREATE DEFINER = 'app_owner'@'%' PROCEDURE rewards_report(IN min_dollar_amount_purchased DECIMAL(10,2), OUT count_rewardees INT)
  READS SQL DATA SQL SECURITY INVOKER COMMENT 'Provides a customizable report on best customers; it''s "quoted"'
proc: BEGIN
  DECLARE done INT DEFAULT FALSE;
  DECLARE v_id INT;
  DECLARE v_total DECIMAL(10,2) DEFAULT 0;
  DECLARE cur CURSOR FOR SELECT customer_id, SUM(amount) FROM sakila.payment GROUP BY customer_id;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = TRUE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN RESIGNAL; END;
  IF min_dollar_amount_purchased < 0 THEN LEAVE proc; END IF;
  SET count_rewardees = 0;
  OPEN cur;
  read_loop: LOOP
    FETCH cur INTO v_id, v_total;
    IF done THEN LEAVE read_loop; END IF;
    IF v_total >= min_dollar_amount_purchased THEN SET count_rewardees = count_rewardees + 1; END IF;
  END LOOP;
  CLOSE cur;
END;
SET SESSION FOREIGN_KEY_CHECKS = 1;
SET SESSION sql_mode = DEFAULT;
`;

/** employees-like: composite keys, date ranges, ~190 k rows, views on views. */
export const EMPLOYEES = sql`
CREATE DATABASE employees CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE employees;
CREATE TABLE employees (
  emp_no INT NOT NULL, birth_date DATE NOT NULL, first_name VARCHAR(14) NOT NULL, last_name VARCHAR(16) NOT NULL,
  gender ENUM('M','F') NOT NULL, hire_date DATE NOT NULL, PRIMARY KEY (emp_no)
);
CREATE TABLE departments (dept_no CHAR(4) NOT NULL, dept_name VARCHAR(40) NOT NULL, PRIMARY KEY (dept_no), UNIQUE KEY (dept_name));
CREATE TABLE dept_manager (
  emp_no INT NOT NULL, dept_no CHAR(4) NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE,
  FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE, PRIMARY KEY (emp_no, dept_no)
);
CREATE TABLE dept_emp (
  emp_no INT NOT NULL, dept_no CHAR(4) NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE,
  FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE, PRIMARY KEY (emp_no, dept_no)
);
CREATE TABLE titles (
  emp_no INT NOT NULL, title VARCHAR(50) NOT NULL, from_date DATE NOT NULL, to_date DATE,
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE, PRIMARY KEY (emp_no, title, from_date)
);
CREATE TABLE salaries (
  emp_no INT NOT NULL, salary INT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
  FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE, PRIMARY KEY (emp_no, from_date)
);
INSERT INTO departments VALUES ('d001','Marketing'), ('d002','Finance'), ('d003','Human Resources'), ('d004','Production'),
  ('d005','Development'), ('d006','Quality Management'), ('d007','Sales'), ('d008','Research'), ('d009','Customer Service');
INSERT INTO employees SELECT 10000 + seq, '1952-02-01' + INTERVAL (seq * 13) % 4700 DAY, ELT(1 + seq % 6, 'Georgi', 'Bezalel', 'Parto', 'Chirstian', 'Kyoichi', 'Anneke'),
  ELT(1 + seq % 5, 'Facello', 'Simmel', 'Bamford', 'Koblick', 'Maliniak'), IF(seq % 3 = 0, 'F', 'M'), '1985-01-01' + INTERVAL (seq * 7) % 5000 DAY
  FROM seq_1_to_25000;
INSERT INTO dept_emp SELECT 10000 + seq, CONCAT('d00', 1 + seq % 9), '1985-01-01' + INTERVAL (seq * 7) % 5000 DAY, IF(seq % 4 = 0, '1999-12-31', '9999-01-01')
  FROM seq_1_to_25000;
INSERT INTO dept_emp SELECT 10000 + seq, CONCAT('d00', 1 + (seq + 4) % 9), '2000-01-01', '9999-01-01' FROM seq_1_to_25000 WHERE seq % 4 = 0;
INSERT INTO dept_manager SELECT 10000 + seq * 1000, CONCAT('d00', 1 + seq % 9), '1991-10-01', IF(seq < 12, '1996-08-30', '9999-01-01') FROM seq_1_to_24;
INSERT INTO titles SELECT 10000 + seq, 'Engineer', '1985-01-01' + INTERVAL (seq * 7) % 5000 DAY, IF(seq % 2 = 0, '1995-01-01', NULL) FROM seq_1_to_25000;
INSERT INTO titles SELECT 10000 + seq, 'Senior Engineer', '1995-01-01', '9999-01-01' FROM seq_1_to_25000 WHERE seq % 2 = 0;
INSERT INTO salaries SELECT 10000 + e.seq, 40000 + (e.seq * 31 + y.seq * 977) % 90000, '1990-01-01' + INTERVAL y.seq YEAR, '1991-01-01' + INTERVAL y.seq YEAR
  FROM seq_1_to_25000 e JOIN seq_0_to_4 y WHERE e.seq % 5 >= y.seq;
CREATE VIEW dept_emp_latest_date AS SELECT emp_no, MAX(from_date) AS from_date, MAX(to_date) AS to_date FROM dept_emp GROUP BY emp_no;
CREATE VIEW current_dept_emp AS
  SELECT l.emp_no, dept_no, l.from_date, l.to_date FROM dept_emp d
   INNER JOIN dept_emp_latest_date l ON d.emp_no = l.emp_no AND d.from_date = l.from_date AND l.to_date = d.to_date;
`;

/** Production patterns in a database whose name needs quoting, with a legacy latin1 default. */
export const PROD_DB = 'Prod-App db';
export const PRODUCTION = sql`
SET GLOBAL log_bin_trust_function_creators = 1;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
CREATE DATABASE \`Prod-App db\` CHARACTER SET latin1 COLLATE latin1_swedish_ci;
USE \`Prod-App db\`;
CREATE TABLE charsets (
  id INT NOT NULL PRIMARY KEY,
  u8 VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci,
  u3 VARCHAR(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin,
  l1 VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_german2_ci,
  bin VARCHAR(100) CHARACTER SET binary,
  a5 CHAR(5) CHARACTER SET ascii,
  u16 VARCHAR(50) CHARACTER SET utf16,
  sj VARCHAR(50) CHARACTER SET sjis,
  cp VARCHAR(50) CHARACTER SET cp1251,
  t TEXT CHARACTER SET utf8mb4 COMMENT 'it''s "quoted" \\ back; semi;;colon',
  KEY k_prefix (u8(10)) COMMENT 'prefix ''key''', UNIQUE KEY u_long (t) USING HASH
) COMMENT = 'Table with ''quotes'', "double", \`backticks\` and a \\ backslash';
INSERT INTO charsets VALUES
  (1, '😀 emoji 👍🏽 and 中文 ✓', 'three-byte ✓ €', 'Straße Äpfel', 0x00FF005C0A09, 'abc', 'utf16 ✓ 😀', CONVERT('ソ表能' USING sjis), CONVERT('Привет' USING cp1251), 'plain'),
  (2, '', '', '', '', '', '', '', '', ''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'tab\there\nnewline\\backslash', 'x\\N', 'ÿ', 0x5C4E, 'N', '\\', CONVERT('\\' USING sjis), 'x', REPEAT('Zoë ', 20000));
CREATE TABLE numbers (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, b1 BIT(1), b13 BIT(13), b64 BIT(64), d DECIMAL(65,30), du DECIMAL(20,0) UNSIGNED,
  dbl DOUBLE, fl FLOAT, dz DOUBLE(10,3) ZEROFILL, bi BIGINT UNSIGNED
) AUTO_INCREMENT = 1000;
INSERT INTO numbers VALUES
  (1, b'1', b'1000000000001', 0xFFFFFFFFFFFFFFFF, '99999999999999999999999999999999999.999999999999999999999999999999', 99999999999999999999,
   1.7976931348623157e308, 3.4028234e38, 1.5, 18446744073709551615),
  (2, b'0', b'0', 0, '-99999999999999999999999999999999999.999999999999999999999999999999', 0, -0e0, -0e0, 0, 0),
  (3, NULL, b'0000000001010', 0x0A09005C, '0.000000000000000000000000000001', 1, 4.9406564584124654e-324, 1.17549435e-38, 1234567.125, 1),
  (4, NULL, NULL, NULL, NULL, NULL, 2.2250738585072014e-308, 1e-45, NULL, NULL),
  (5, b'1', b'1111111111111', 1, '0', NULL, 0.1, 0.1, 0.001, 9007199254740993);
CREATE TABLE legacy_dates (
  id INT NOT NULL PRIMARY KEY,
  d DATE NOT NULL DEFAULT '0000-00-00',
  dt DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
  ts TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00',
  t6 TIME(6), t0 TIME, y YEAR,
  dt6 DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  ts3 TIMESTAMP(3) NULL DEFAULT NULL
);
INSERT INTO legacy_dates VALUES
  (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-838:59:59.999999', '838:59:59', 0, '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999'),
  (2, '2020-00-00', '2020-01-00 10:00:00', '1970-01-01 00:00:01', '-00:00:00.000001', '-12:30:00', 1901, '1000-01-01 00:00:00.000001', NULL),
  (3, '9999-12-31', '9999-12-31 23:59:59', '2021-03-28 02:30:00', '100:00:00.5', '00:00:00', 2155, '2020-01-01 00:00:00', '1970-01-01 00:00:01.001');
CREATE TABLE docs (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  doc JSON NOT NULL,
  doc_name VARCHAR(100) AS (JSON_UNQUOTE(JSON_EXTRACT(doc, '$.name'))) VIRTUAL,
  doc_n INT AS (JSON_EXTRACT(doc, '$.n')) STORED,
  secret VARCHAR(20) INVISIBLE DEFAULT 'hidden',
  price DECIMAL(8,2) CHECK (price >= 0),
  uid CHAR(36) NOT NULL DEFAULT (UUID()),
  KEY k_name (doc_name), KEY k_n (doc_n), KEY k_desc (doc_n DESC, id), KEY k_ign (price) IGNORED,
  CONSTRAINT doc_n_positive CHECK (doc_n IS NULL OR doc_n >= 0)
) ROW_FORMAT = DYNAMIC STATS_PERSISTENT = 1 COMMENT = 'JSON documents';
INSERT INTO docs (id, doc, secret, price, uid) VALUES
  (1, '{"name": "a\\tb", "n": 1, "tags": ["x", "😀"], "nested": {"deep": [null, true, 1.5e300]}}', 's1', 0, '00000000-0000-0000-0000-000000000001'),
  (2, '[]', DEFAULT, NULL, '00000000-0000-0000-0000-000000000002'),
  (3, '{"name": "quote \\" and \\\\ backslash", "n": 3}', NULL, 12.5, '00000000-0000-0000-0000-000000000003'),
  (18446744073709551615, '"just a string"', 'max', 999999.99, '00000000-0000-0000-0000-000000000004');
CREATE TABLE compressed (id INT NOT NULL PRIMARY KEY, v TEXT) ROW_FORMAT = COMPRESSED KEY_BLOCK_SIZE = 8;
INSERT INTO compressed SELECT seq, REPEAT('compress me ', seq) FROM seq_1_to_50;
CREATE TABLE page_compressed (id INT NOT NULL PRIMARY KEY, v TEXT) PAGE_COMPRESSED = 1;
INSERT INTO page_compressed VALUES (1, 'x');
CREATE TABLE emp_badge (emp_no INT NOT NULL PRIMARY KEY, badge VARCHAR(10),
  CONSTRAINT fk_badge_emp FOREIGN KEY (emp_no) REFERENCES employees.employees (emp_no) ON DELETE CASCADE);
INSERT INTO emp_badge VALUES (10001, 'B-1'), (10002, 'B-2');
CREATE TABLE counters (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 5000;
INSERT INTO counters (id, v) VALUES (1, 1), (2, 2), (10, 10);
CREATE TABLE empty_counter (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT = 77;
CREATE TABLE p_range (
  id INT NOT NULL, created DATE NOT NULL, v VARCHAR(20), PRIMARY KEY (id, created), KEY kv (v)
) PARTITION BY RANGE COLUMNS(created) (
  PARTITION p2022 VALUES LESS THAN ('2023-01-01') COMMENT = 'old ''stuff''',
  PARTITION p2023 VALUES LESS THAN ('2024-01-01'),
  PARTITION pmax VALUES LESS THAN (MAXVALUE)
);
INSERT INTO p_range SELECT seq, '2022-06-01' + INTERVAL seq DAY, CONCAT('v', seq % 10) FROM seq_1_to_900;
CREATE TABLE p_list (id INT NOT NULL, region TINYINT NOT NULL, PRIMARY KEY (id, region))
  PARTITION BY LIST (region) (PARTITION p_eu VALUES IN (1, 2, 3), PARTITION p_us VALUES IN (4, 5), PARTITION p_rest DEFAULT);
INSERT INTO p_list SELECT seq, seq % 9 FROM seq_1_to_300;
CREATE TABLE p_hash (id INT NOT NULL PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 4;
INSERT INTO p_hash SELECT seq, seq * 2 FROM seq_1_to_1000;
CREATE TABLE p_key (code VARCHAR(20) NOT NULL PRIMARY KEY, v INT) PARTITION BY KEY () PARTITIONS 3;
INSERT INTO p_key SELECT CONCAT('k', seq), seq FROM seq_1_to_100;
CREATE TABLE p_sub (id INT NOT NULL, purchased DATE NOT NULL, PRIMARY KEY (id, purchased))
  PARTITION BY RANGE (YEAR(purchased)) SUBPARTITION BY HASH (TO_DAYS(purchased)) SUBPARTITIONS 2 (
    PARTITION p0 VALUES LESS THAN (1990), PARTITION p1 VALUES LESS THAN (2000), PARTITION p2 VALUES LESS THAN MAXVALUE);
INSERT INTO p_sub SELECT seq, '1985-01-01' + INTERVAL seq * 11 DAY FROM seq_1_to_1500;
CREATE TABLE no_pk (a INT, b VARCHAR(10), KEY ka (a));
INSERT INTO no_pk VALUES (1, 'dup'), (1, 'dup'), (1, 'dup'), (NULL, NULL), (2, ''), (NULL, NULL);
CREATE TABLE no_pk_unique (a INT NOT NULL, b INT, UNIQUE KEY ua (a), KEY kb (b));
INSERT INTO no_pk_unique VALUES (3, 1), (1, NULL), (2, 1);
CREATE TABLE isam_groups (grp CHAR(3) NOT NULL, id MEDIUMINT NOT NULL AUTO_INCREMENT, body TEXT, PRIMARY KEY (grp, id), FULLTEXT KEY ft (body))
  ENGINE = MyISAM AUTO_INCREMENT = 40 COMMENT 'MyISAM per-group counters';
INSERT INTO isam_groups (grp, body) VALUES ('dog', 'woof'), ('cat', 'meow'), ('dog', 'bark bark'), ('cat', NULL), ('dog', 'growl');
CREATE TABLE aria_log (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200)) ENGINE = Aria TRANSACTIONAL = 1 PAGE_CHECKSUM = 1 AUTO_INCREMENT = 300;
INSERT INTO aria_log (msg) VALUES ('one'), ('two ✓');
CREATE TABLE mem_cache (k VARCHAR(20) NOT NULL PRIMARY KEY, v INT) ENGINE = MEMORY;
INSERT INTO mem_cache VALUES ('a', 1), ('b', 2);
CREATE TABLE csv_export (id INT NOT NULL, v VARCHAR(20) NOT NULL) ENGINE = CSV;
INSERT INTO csv_export VALUES (1, 'one'), (2, 'tab\there');
CREATE TABLE m_2023 (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE = MyISAM;
CREATE TABLE m_2024 (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE = MyISAM;
INSERT INTO m_2023 VALUES (1, 'old'), (2, 'old');
INSERT INTO m_2024 VALUES (3, 'new');
CREATE TABLE m_all (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE = MRG_MyISAM UNION = (m_2023, m_2024) INSERT_METHOD = LAST;
CREATE TABLE \`order\` (
  \`select\` INT NOT NULL PRIMARY KEY, \`from\` VARCHAR(10), \`Mixed Case Col\` INT, \`col with \`\`backtick\`\`\` INT,
  \`dot.col\` INT, \`ünïcode_名前\` VARCHAR(10), \`key\` INT, KEY \`index\` (\`key\`)
);
INSERT INTO \`order\` VALUES (1, 'where', 2, 3, 4, 'ü', 5), (2, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE \`Weird Name\` (id INT NOT NULL PRIMARY KEY, v VARCHAR(5));
CREATE TABLE \`weird name\` (id INT NOT NULL PRIMARY KEY, v VARCHAR(5));
INSERT INTO \`Weird Name\` VALUES (1, 'upper');
INSERT INTO \`weird name\` VALUES (1, 'lower'), (2, 'lower');
CREATE TABLE \`tick\`\`table\` (id INT NOT NULL PRIMARY KEY);
INSERT INTO \`tick\`\`table\` VALUES (7);
CREATE TABLE \`a.b\` (id INT NOT NULL PRIMARY KEY);
INSERT INTO \`a.b\` VALUES (8);
CREATE TABLE \`slash/name\` (id INT NOT NULL PRIMARY KEY);
INSERT INTO \`slash/name\` VALUES (9);
CREATE TABLE \`名前\` (id INT NOT NULL PRIMARY KEY, \`値\` VARCHAR(10));
INSERT INTO \`名前\` VALUES (1, '値');
CREATE TABLE blobs (id INT NOT NULL PRIMARY KEY, b BINARY(8), vb VARBINARY(64), tb TINYBLOB, lb LONGBLOB);
INSERT INTO blobs VALUES (1, 0x00, 0x0000000000, 0x00FF00, NULL), (2, 0x5C0A0D091A, '', '', ''), (3, NULL, NULL, NULL, 0x00);
CREATE SEQUENCE s_plain;
CREATE SEQUENCE s_cycle START WITH 10 MINVALUE 1 MAXVALUE 20 INCREMENT BY 3 CYCLE CACHE 5;
CREATE SEQUENCE s_desc START WITH -1 INCREMENT BY -1 MINVALUE -1000 MAXVALUE -1 NOCACHE;
DO NEXTVAL(s_plain), NEXTVAL(s_plain);
DO NEXTVAL(s_cycle), NEXTVAL(s_cycle), NEXTVAL(s_cycle), NEXTVAL(s_cycle), NEXTVAL(s_cycle), NEXTVAL(s_cycle);
DO NEXTVAL(s_desc), NEXTVAL(s_desc), NEXTVAL(s_desc);
CREATE TABLE a_uses_seq (id BIGINT NOT NULL DEFAULT NEXTVAL(s_plain) PRIMARY KEY, v INT);
INSERT INTO a_uses_seq (v) VALUES (1), (2);
CREATE TABLE prices (id INT NOT NULL PRIMARY KEY, price DECIMAL(10,2)) WITH SYSTEM VERSIONING;
INSERT INTO prices VALUES (1, 10.00), (2, 20.00);
UPDATE prices SET price = 11.00 WHERE id = 1;
DELETE FROM prices WHERE id = 2;
CREATE TABLE trx_versioned (
  id INT NOT NULL PRIMARY KEY, v INT,
  trx_start BIGINT UNSIGNED GENERATED ALWAYS AS ROW START INVISIBLE, trx_end BIGINT UNSIGNED GENERATED ALWAYS AS ROW END INVISIBLE,
  PERIOD FOR SYSTEM_TIME (trx_start, trx_end)
) ENGINE = InnoDB WITH SYSTEM VERSIONING;
INSERT INTO trx_versioned (id, v) VALUES (1, 1);
UPDATE trx_versioned SET v = 2;
CREATE TABLE gone (id INT);
CREATE VIEW broken_view AS SELECT id FROM gone;
DROP TABLE gone;
CREATE VIEW \`select view\` AS SELECT \`select\`, \`from\`, \`Mixed Case Col\` FROM \`order\`;
CREATE DEFINER = 'app_owner'@'%' SQL SECURITY DEFINER VIEW cross_db AS SELECT COUNT(*) AS films FROM sakila.film;
CREATE FUNCTION \`Weird Func\`(\`in put\` VARCHAR(10) CHARSET latin1) RETURNS VARCHAR(40) CHARSET utf8mb4 COLLATE utf8mb4_bin
  DETERMINISTIC NO SQL COMMENT 'returns ''ü'''
  RETURN CONCAT('→ ', \`in put\`, ' ✓');
CREATE AGGREGATE FUNCTION agg_sum(x INT) RETURNS INT
BEGIN
  DECLARE total INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND RETURN total;
  LOOP FETCH GROUP NEXT ROW; SET total = total + IFNULL(x, 0); END LOOP;
END;
CREATE PROCEDURE bump() MODIFIES SQL DATA UPDATE \`Prod-App db\`.counters SET v = v + 1;
SET SESSION time_zone = '+02:00';
CREATE EVENT ev_purge ON SCHEDULE EVERY 1 HOUR STARTS '2030-01-01 00:00:00' ON COMPLETION PRESERVE ENABLE
  COMMENT 'purges ''old'' rows' DO DELETE FROM no_pk WHERE a < 0;
CREATE DEFINER = 'app_owner'@'%' EVENT ev_once ON SCHEDULE AT '2035-06-01 12:00:00' ON COMPLETION NOT PRESERVE DISABLE
  DO BEGIN INSERT INTO no_pk VALUES (-1, 'x'); INSERT INTO no_pk VALUES (-2, 'y'); END;
SET SESSION time_zone = SYSTEM;
SET SESSION timestamp = UNIX_TIMESTAMP('2020-01-01');
CREATE EVENT ev_overdue ON SCHEDULE AT '2021-01-01 00:00:00' ON COMPLETION NOT PRESERVE DO DELETE FROM no_pk;
SET SESSION timestamp = DEFAULT;
SET SESSION sql_mode = 'ORACLE';
CREATE PACKAGE pkg AS
  FUNCTION f1 RETURN INT;
END;
CREATE PACKAGE BODY pkg AS
  FUNCTION f1 RETURN INT AS BEGIN RETURN 42; END;
END;
SET SESSION sql_mode = DEFAULT;
`;

/** A LONGBLOB row of 16 MiB whose bytes need escaping throughout (needs max_allowed_packet > 32 MiB). */
export const BIG_BLOB = sql`
INSERT INTO \`Prod-App db\`.blobs (id, lb) VALUES (4, REPEAT(CONCAT(0x00, 'x', 0x0A, 0x5C, 0x09, 0xFF, 'yz'), 2 * 1024 * 1024));
`;

export const DROP_OWNER = sql`
DROP USER 'app_owner'@'%';
CREATE USER 'report_reader'@'localhost';
GRANT SELECT ON employees.* TO 'report_reader'@'localhost';
GRANT SELECT (emp_no, badge) ON \`Prod-App db\`.emp_badge TO 'report_reader'@'localhost';
`;
