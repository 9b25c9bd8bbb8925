module bf
go 1.19
