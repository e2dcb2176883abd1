"""What an attacker tries, one class per module (issue 18): each class of attack is a test, property tests
where the class is open-ended."""
