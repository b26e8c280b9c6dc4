CREATE TABLE `notification_state` (
	`key` text PRIMARY KEY NOT NULL,
	`last_sent_at` text NOT NULL
);
