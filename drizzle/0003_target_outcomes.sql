CREATE TABLE `target_outcomes` (
	`source` text NOT NULL,
	`backup_id` text NOT NULL,
	`repository` text NOT NULL,
	`ok` integer NOT NULL,
	`error_code` text,
	`error_message` text,
	`recorded_at` text NOT NULL,
	PRIMARY KEY(`source`, `backup_id`, `repository`)
);
