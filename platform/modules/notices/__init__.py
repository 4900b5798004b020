"""The notices module: notices (通知公告), periodic messages, yellow pages, knowledge base."""
